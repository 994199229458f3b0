"""Work shared by the whole test run: one synthesis of every environment, and the few other costly
artefacts (the normal-import synth, checkov reports, real plans), each built once per run by
whichever xdist worker asks first while the others wait on a file lock."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.support import (
    ACCOUNT_SETTINGS, MIGRATION_SYNTH_SETTINGS, PROJECT_ROOT, Synthesized, checkov_scan,
    read_botocore_data_once_per_process, synth_environments,
)

RUNS_ROOT = PROJECT_ROOT / "build" / "test-runs"
ENVIRONMENTS = ("dev", "staging", "prod")
STALE_AFTER_SECONDS = 3600


def once_per_run(run_dir: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``run_dir/name``, filled by ``build`` exactly once per test run across xdist workers."""
    target = run_dir / name
    with open(run_dir / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".done").exists():
            target.mkdir(parents=True, exist_ok=True)
            build(target)
            (target / ".done").touch()
    return target


@pytest.fixture(scope="session")
def run_dir(testrun_uid: str) -> Path:
    """``build/test-runs/<run>``; runs older than an hour are removed (never a concurrent one)."""
    RUNS_ROOT.mkdir(parents=True, exist_ok=True)
    with open(RUNS_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for old in RUNS_ROOT.iterdir():
            if old.is_dir() and old.name != testrun_uid and time.time() - old.stat().st_mtime > STALE_AFTER_SECONDS:
                shutil.rmtree(old)
        (RUNS_ROOT / testrun_uid).mkdir(exist_ok=True)
    return RUNS_ROOT / testrun_uid


@pytest.fixture(scope="session")
def synth_all(run_dir: Path) -> Path:
    """``<run>/synth/<env>`` for every environment, synthesized in one process (the fast path)."""
    return once_per_run(run_dir, "synth", lambda out: synth_environments(out, ENVIRONMENTS))


@pytest.fixture(scope="session")
def three_accounts(run_dir: Path) -> Path:
    """``<run>/synth-account/<env>/stacks``: every environment as the operators of three accounts
    synthesize it (PAYMENTS_ENVIRONMENT_ACCOUNTS: state backend with bucket and key per account,
    reader allow-list, the CI identities in each account stack)."""
    return once_per_run(run_dir, "synth-account", lambda o: synth_environments(o, ENVIRONMENTS, **ACCOUNT_SETTINGS))


# What the security gate scans (tests/test_checkov.py): prod's stacks as an account synthesizes them.
GATED_STACKS = ("payments-prod", "payments-prod-us-west-2", "payments-state", "payments-account", "payments-guardrails")


@pytest.fixture(scope="session")
def migration_synth(run_dir: Path) -> Path:
    """``<run>/synth-migration/dev/stacks``: dev with the migration on (MIGRATION_SYNTH_SETTINGS)."""
    return once_per_run(run_dir, "synth-migration",
                        lambda o: synth_environments(o, ["dev"], **MIGRATION_SYNTH_SETTINGS)) / "dev" / "stacks"


@pytest.fixture(scope="session")
def checkov_reports(run_dir: Path, three_accounts: Path, migration_synth: Path) -> dict[str, dict]:
    """checkov's report of each gated stack and of dev with the migration on (``payments-dev-migration``),
    from one checkov run per test run."""
    files = {name: three_accounts / "prod" / "stacks" / name / "cdk.tf.json" for name in GATED_STACKS}
    files["payments-dev-migration"] = migration_synth / "payments-dev" / "cdk.tf.json"

    def scan(out: Path) -> None:
        by_path = checkov_scan(files.values())
        for name, path in files.items():
            (out / f"{name}.json").write_text(json.dumps(by_path[path.resolve()]))

    out = once_per_run(run_dir, "checkov", scan)
    return {name: json.loads((out / f"{name}.json").read_text()) for name in files}


@pytest.fixture(scope="session")
def account_synth(three_accounts: Path) -> Path:
    """``dev``'s stacks of ``three_accounts``."""
    return three_accounts / "dev" / "stacks"


@pytest.fixture(scope="session")
def account_stack(synth_root: Path) -> Synthesized:
    """``payments-account`` of the default dev synth (no account id, no CI identities)."""
    return Synthesized(synth_root / "stacks" / "payments-account" / "cdk.tf.json")


@pytest.fixture(scope="session")
def synth_root(synth_all: Path) -> Path:
    return synth_all / "dev"


@pytest.fixture(scope="session")
def stack(synth_root: Path) -> Synthesized:
    return Synthesized(synth_root / "stacks" / "payments-dev" / "cdk.tf.json")


@pytest.fixture(scope="session")
def state_stack(synth_root: Path) -> Synthesized:
    return Synthesized(synth_root / "stacks" / "payments-state" / "cdk.tf.json")


@pytest.fixture(scope="session")
def prod_stack(synth_all: Path) -> Synthesized:
    return Synthesized(synth_all / "prod" / "stacks" / "payments-prod" / "cdk.tf.json")


@pytest.fixture(scope="session")
def guardrails_stack(synth_all: Path) -> Synthesized:
    """The organisation's SCPs, synthesized beside prod (tests/support.py ENVIRONMENT_SETTINGS)."""
    return Synthesized(synth_all / "prod" / "stacks" / "payments-guardrails" / "cdk.tf.json")


@pytest.fixture(scope="session")
def staging_stack(synth_all: Path) -> Synthesized:
    """Staging: scales to zero like dev, but has the WAF, the dashboard and the full alarm set."""
    return Synthesized(synth_all / "staging" / "stacks" / "payments-staging" / "cdk.tf.json")


@pytest.fixture(scope="session")
def dev_in_vpc(run_dir: Path) -> Synthesized:
    """dev with PAYMENTS_FUNCTIONS_IN_VPC=true (functions in the private subnets, still no NAT)."""
    out = once_per_run(run_dir, "synth-dev-in-vpc",
                       lambda o: synth_environments(o, ["dev"], PAYMENTS_FUNCTIONS_IN_VPC="true"))
    return Synthesized(out / "dev" / "stacks" / "payments-dev" / "cdk.tf.json")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest first: the rehearsal (minutes, mostly waiting on the endpoint) goes to a worker before
    anything else, so the rest of the suite runs beside it instead of before it. (``--dist worksteal``
    in pytest.ini: the tests queued behind it move to the other workers once they are idle.) Three
    workers on two cores: the rehearsal's worker leaves about one core idle while the provider
    waits on Aurora and KMS (fixed polls), which a second worker for the other tests fills."""
    items.sort(key=lambda item: item.get_closest_marker("rehearsal") is None)  # stable sort


# How much lower the CPU priority of everything but the rehearsal is, on a worker (os.nice increment).
BESIDE_THE_REHEARSAL_NICENESS = 19  # the lowest priority: the rehearsal is the critical path
_lowered = False  # this worker's priority is lowered already


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The rehearsal is the suite's critical path and its Terraform runs compete for the same cores as
    the rest: a worker lowers its own priority (and its children's) before its first other test, so
    the rehearsal's bursts come first and the other tests fill the gaps. Only ever lowered, so no
    privilege is needed; the worker that runs the rehearsal does it after the rehearsal. Children
    started before (the jsii kernel, at collection) are lowered with it."""
    global _lowered
    if _lowered or item.get_closest_marker("rehearsal") or not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    niceness = os.nice(BESIDE_THE_REHEARSAL_NICENESS)
    for children in Path("/proc/self/task").glob("*/children"):  # Linux; elsewhere nothing to find
        for pid in children.read_text().split():
            try:
                os.setpriority(os.PRIO_PROCESS, int(pid), niceness)
            except OSError:  # already gone
                pass
    _lowered = True


def _terraform_settings_for_the_jsii_kernel() -> None:
    """Terraform started by the jsii kernel (``Testing.to_be_valid_terraform`` runs ``terraform
    init`` and ``validate`` from Node) must see the project's CLI config (the provider mirror, no
    checkpoint calls). The kernel inherits this process's environment when it starts, at the first
    construct import, so this runs when this conftest is imported: before any test module or nested
    conftest (which pytest imports before calling any pytest_configure hook)."""
    from scripts.terraform import terraform_env

    env = terraform_env()
    for name in ("TF_CLI_CONFIG_FILE", "TF_IN_AUTOMATION", "CHECKPOINT_DISABLE", "GOGC"):
        os.environ[name] = env[name]


_terraform_settings_for_the_jsii_kernel()
read_botocore_data_once_per_process()
