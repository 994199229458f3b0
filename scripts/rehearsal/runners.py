"""The rehearsal's runners: the synth subprocess, ``terraform`` and ``cdktf`` in a stack directory
(logged), the background state-stack apply, and reading saved plans and state."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from scripts import plan_summary, terraform
from scripts.rehearsal.common import PROJECT_ROOT, RehearsalError
from scripts.rehearsal.endpoint import clean_env

PARALLELISM = "-parallelism=20"
# The CPU priority (nice increment) of Terraform runs beside the critical path (state bucket, deploy,
# no-change diff, destroy): the reviewed plan, the account stack's apply, the wrong-account plan.
# On two cores they fill what the critical path leaves, mostly while the provider polls Aurora.
BESIDE = 10
CDKTF = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"
BUCKET_TIMEOUT = 120.0  # seconds for the state stack to create the state bucket
NO_COLOR = ("init", "apply", "plan", "destroy", "output")


def synthesize(outdir: Path, environment: str, endpoint: str, state_bucket: str,
               settings: Mapping[str, str] | None = None) -> Path:
    """Fresh synth of the app in rehearsal mode; returns ``outdir/<env>/stacks``."""
    env = clean_env()
    env.update(PAYMENTS_AWS_ENDPOINT=endpoint, PAYMENTS_STATE_BUCKET=state_bucket,
               ENVIRONMENT_SUFFIX=environment, PYTHONDONTWRITEBYTECODE="1", **(settings or {}))
    if "JSII_NODE" not in env and (PROJECT_ROOT / "node_modules/.bin/node").exists():
        env["JSII_NODE"] = str(PROJECT_ROOT / "node_modules/.bin/node")
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.rehearse", "--synth-into", str(outdir / environment)],
        cwd=PROJECT_ROOT, env=env, text=True, capture_output=True)
    if proc.returncode != 0:
        raise RehearsalError(f"synth failed:\n{proc.stdout}{proc.stderr}")
    return outdir / environment / "stacks"


def synth_app(outdir: Path) -> None:
    """In the synth subprocess: the app as main.py builds it, rehearsal overrides on every stack
    (PaymentStack adds them itself; the payments-state bootstrap stack does not), then synth."""
    import modules  # noqa: F401  (fast provider import)
    from cdktf import App, TerraformStack

    from main import build_app, synth
    from modules.rehearsal import apply_rehearsal_overrides

    if not os.environ.get("PAYMENTS_AWS_ENDPOINT"):
        raise SystemExit("--synth-into is for rehearsal mode only (PAYMENTS_AWS_ENDPOINT unset)")
    outdir.mkdir(parents=True, exist_ok=True)
    app = build_app(App(outdir=str(outdir)))
    for stack in app.node.children:
        if isinstance(stack, TerraformStack):
            apply_rehearsal_overrides(stack)
    synth(app)


def count_resources(stack_json: Mapping[str, Any]) -> int:
    return sum(len(v) for v in stack_json.get("resource", {}).values())


@dataclass
class Terraform:
    """``terraform`` in one synthesized stack directory, output logged to ``logs/``."""

    workdir: Path
    env: dict[str, str]
    logs: Path
    niceness: int = 0  # BESIDE for work off the critical path

    def __call__(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        if args[0] in NO_COLOR:
            args = (args[0], "-no-color", *args[1:])
        return logged_run(self.logs, name, f"terraform {args[0]}", f"terraform {' '.join(args)}",
                          lambda: terraform.run(self.workdir, args, env=self.env, check=False,
                                                niceness=self.niceness))


@dataclass
class Cdktf:
    """``cdktf <command> <stack>`` on the already synthesized app in ``outdir`` (``--skip-synth``),
    as a user runs it from the project root; output logged to ``logs/``."""

    outdir: Path
    env: dict[str, str]
    logs: Path

    def __call__(self, name: str, command: str, stack: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(CDKTF), command, stack, "--skip-synth", "--output", str(self.outdir), "--no-color",
               "--terraform-parallelism", PARALLELISM.split("=")[1], *args]
        return logged_run(self.logs, name, f"cdktf {command}", f"cdktf {command} {stack}",
                          lambda: subprocess.run(cmd, cwd=PROJECT_ROOT, env=self.env, text=True,
                                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT))


def logged_run(logs: Path, name: str, step: str, command: str,
               run: Callable[[], subprocess.CompletedProcess[str]]) -> subprocess.CompletedProcess[str]:
    """Run one command: its output to ``logs/<name>.log``, its seconds to the steps (``record_step``
    as ``<step> (<name>)``); a non-zero exit raises with the error blocks of its output."""
    started = time.perf_counter()
    proc = run()
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{name}.log").write_text(proc.stdout or "")
    record_step(logs, f"{step} ({name})", started)
    if proc.returncode != 0:
        raise RehearsalError(f"{command} exited {proc.returncode} "
                             f"(log: {logs / (name + '.log')}):\n{errors_of(proc.stdout)}")
    return proc


def record_step(logs: Path, what: str, started: float) -> None:
    """One line per command in ``<work dir>/logs/steps.tsv``: seconds, what (where a phase's time goes)."""
    with open(logs.parent / "steps.tsv", "a") as steps:
        steps.write(f"{time.perf_counter() - started:.1f}\t{what}\n")


def read_steps(logs: Path) -> list[tuple[str, float]]:
    """What ``record_step`` wrote, in order."""
    path = logs / "steps.tsv"
    rows = [line.split("\t", 1) for line in path.read_text().splitlines()] if path.exists() else []
    return [(what, float(seconds)) for seconds, what in rows]


def cdktf_env(env: Mapping[str, str]) -> dict[str, str]:
    """The cdktf CLI's environment: Terraform's (the project's CLI config with the mirror, the
    project's plugin cache instead of the CLI's own) and the project's Node 22 first on PATH."""
    result = terraform.terraform_env(env)
    result.update(PATH=f"{CDKTF.parent}{os.pathsep}{result.get('PATH', '')}",
                  CDKTF_DISABLE_PLUGIN_CACHE_ENV="true", CI="1", FORCE_COLOR="0")
    return result


class Background(threading.Thread):
    """Runs ``work`` beside the main line; ``join_result`` re-raises what it raised."""

    def __init__(self, work: Callable[[], None]):
        super().__init__(daemon=True)
        self.work, self.error, self.seconds = work, None, 0.0
        self.started_at = time.perf_counter()

    def run(self) -> None:
        try:
            self.work()
        except BaseException as err:  # noqa: BLE001 (handed to the main thread)
            self.error = err
        finally:
            self.seconds = time.perf_counter() - self.started_at

    def join_result(self) -> float:
        self.join()
        if self.error:
            raise self.error
        return self.seconds


def _wait_for_s3(head: Callable[[], object], abandon: Callable[[], None], what: str, timeout: float) -> None:
    """Poll ``head`` (raises until the thing exists) every half second; ``abandon`` raises once the
    command that was to make it can no longer do so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            head()
            return
        except Exception:  # botocore ClientError 404 until it is made
            abandon()
            time.sleep(0.5)
    raise RehearsalError(f"{what} not created after {timeout:.0f}s")


def wait_for_bucket(s3: Any, bucket: str, background: Background, timeout: float = BUCKET_TIMEOUT) -> None:
    """Until the state stack's apply in ``background`` has made ``bucket``."""
    def abandon() -> None:
        if not background.is_alive():
            background.join_result()
            raise RehearsalError(f"the state stack finished without creating {bucket}")

    _wait_for_s3(lambda: s3.head_bucket(Bucket=bucket), abandon, f"state bucket {bucket}", timeout)


def wait_for_object(s3: Any, bucket: str, key: str, stop: threading.Event,
                    timeout: float = BUCKET_TIMEOUT * 2) -> None:
    """Until ``s3://bucket/key`` exists (a state another command is writing), unless ``stop`` is set
    (that command failed) or ``timeout`` passes."""
    def abandon() -> None:
        if stop.is_set():
            raise RehearsalError(f"s3://{bucket}/{key}: stopped waiting (the rehearsal ended)")

    _wait_for_s3(lambda: s3.head_object(Bucket=bucket, Key=key), abandon, f"s3://{bucket}/{key}", timeout)


def no_changes(plan_json: Mapping[str, Any]) -> list[str]:
    """What a plan would change (resources and outputs); empty when the stack matches the config."""
    changed = [f"{c.action} {c.address}" for c in plan_summary.parse_changes(plan_json)]
    changed += [f"output {name}" for name, oc in (plan_json.get("output_changes") or {}).items()
                if (oc.get("actions") or ["no-op"]) != ["no-op"]]
    return changed


def errors_of(output: str, limit: int = 60) -> str:
    """The error blocks of Terraform output (else its tail), for the report."""
    lines = output.splitlines()
    picked = [line for i, line in enumerate(lines)
              if line.startswith("Error") or any(l.startswith("Error") for l in lines[max(0, i - 8):i])]
    return "\n".join((picked or lines)[-limit:])


def empty_bucket(s3: Any, bucket: str) -> None:
    """Delete every version and delete marker (the state bucket is versioned, force_destroy off)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                   for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})



def working_copy(stack_dir: Path, target: Path, *, initialized: bool) -> Path:
    """``target``: a second working directory of the synthesized stack in ``stack_dir``, for a
    Terraform run beside one there (each run may add override files that the other must not see).
    The configuration and assets are linked, the lock file copied (init may rewrite it);
    ``initialized``: the providers are linked and the backend configuration copied, so no init is
    needed, else the copy gets none and is initialized by the caller."""
    target.mkdir(parents=True)
    for entry in stack_dir.iterdir():
        if entry.name == ".terraform.lock.hcl":
            (target / entry.name).write_bytes(entry.read_bytes())
        elif entry.name in ("cdk.tf.json", "assets"):
            (target / entry.name).symlink_to(entry.resolve())
    if initialized:
        (target / ".terraform").mkdir()
        (target / ".terraform" / "providers").symlink_to((stack_dir / ".terraform" / "providers").resolve())
        (target / ".terraform" / "terraform.tfstate").write_bytes(
            (stack_dir / ".terraform" / "terraform.tfstate").read_bytes())
    return target


def review_create_plan(stack_dir: Path, target: Path, env: dict[str, str], logs: Path) -> list[plan_summary.Change]:
    """The plan a pull request's plan job makes of a stack that does not exist yet: the
    configuration of ``stack_dir`` planned against an empty state (a local backend, in the working
    copy ``target``, so that a deploy can run in ``stack_dir`` meanwhile), as the plan-review
    summary reads it (kept as ``plans/create.json``)."""
    from scripts import bootstrap  # (it imports this package's neighbours)

    review = working_copy(stack_dir, target, initialized=False)
    bootstrap.use_local_state(review, review / "empty.tfstate")
    tf = Terraform(review, env, logs / "stack", niceness=BESIDE)
    tf("init-review", "init", "-input=false")
    return saved_plan(tf, "create", [])


def saved_plan(tf: Terraform, name: str, extra: list[str]) -> list[plan_summary.Change]:
    """``terraform plan -out <name>.tfplan``, read by ``read_plan``."""
    tf(f"plan-{name}", "plan", "-input=false", PARALLELISM, *extra, f"-out={name}.tfplan")
    return read_plan(tf, name, f"{name}.tfplan")


def read_plan(tf: Terraform, name: str, plan_file: str) -> list[plan_summary.Change]:
    """A saved plan's JSON (kept as ``plans/<name>.json``) parsed by the plan-review summary, whose
    text is logged next to it."""
    plan_json = tf(f"show-{name}", "show", "-json", plan_file).stdout
    plans = tf.logs.parent / "plans"
    plans.mkdir(parents=True, exist_ok=True)
    (plans / f"{name}.json").write_text(plan_json)
    changes = plan_summary.parse_changes(json.loads(plan_json))
    (plans / f"{name}-summary.txt").write_text(plan_summary.render(changes))
    return changes


def state_addresses(tf: Terraform) -> list[str]:
    return [a for a in tf("state-list", "state", "list").stdout.split() if a]


def plugin_cache() -> Path:
    """Terraform's provider cache (``build/``): the ~700 MB provider is linked, not copied, per init.

    Filled here, once, under a file lock, with the provider the project's lock file pins: Terraform's
    cache is not safe for concurrent first installs (two inits that both install the provider race
    on its directory: "mkdir ...: file exists"), and the rehearsal and the tests start inits side by
    side, on a fresh clone with an empty cache."""
    cache = PROJECT_ROOT / "build" / "terraform-plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / ".terraform-plugin-cache.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not any(cache.glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*")):
            with tempfile.TemporaryDirectory(dir=cache.parent, prefix="plugin-cache-") as tmp:
                shutil.copy(PROJECT_ROOT / ".terraform.lock.hcl", tmp)
                (Path(tmp) / "providers.tf.json").write_text(json.dumps(
                    {"terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}}}))
                terraform.run(Path(tmp), ["init", "-input=false", "-no-color", "-backend=false"],
                              env={**os.environ, "TF_PLUGIN_CACHE_DIR": str(cache)})
    return cache
