"""One synthesis per test run, shared by every test and every xdist worker."""

from __future__ import annotations

import fcntl
import shutil
import time
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT, Synthesized, synth_environments

SYNTH_ROOT = PROJECT_ROOT / "build" / "test-synth"
ENVIRONMENTS = ("dev", "staging", "prod")
STALE_AFTER_SECONDS = 3600


@pytest.fixture(scope="session")
def synth_all(testrun_uid: str) -> Path:
    """``build/test-synth/<run>/<env>`` for every environment, synthesized once per run in one
    process (the normal, fast path); xdist workers wait on a lock and share it."""
    SYNTH_ROOT.mkdir(parents=True, exist_ok=True)
    outdir = SYNTH_ROOT / testrun_uid
    with open(SYNTH_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (outdir / "done").exists():
            for old in SYNTH_ROOT.iterdir():  # earlier runs, not one a concurrent run may be using
                if old.is_dir() and time.time() - old.stat().st_mtime > STALE_AFTER_SECONDS:
                    shutil.rmtree(old)
            synth_environments(outdir, ENVIRONMENTS)
            (outdir / "done").touch()
    return outdir


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
