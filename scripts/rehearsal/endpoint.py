"""The rehearsal's local AWS endpoint: a ``moto_server`` on a free loopback port and the environment
(no caller settings, rehearsal credentials) that terraform, cdktf and boto3 use against it."""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Mapping

from scripts.rehearsal.common import RehearsalError

REHEARSAL_KEY = "test"  # moto accepts any key; not credentials
READY_TIMEOUT = 60.0
RUNNING_ON = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")  # werkzeug's line, with the bound port
# Settings of the caller's shell that must not leak into the rehearsal (it synthesizes its own).
LEAKING_PREFIXES = ("PAYMENTS_", "ENVIRONMENT_SUFFIX", "AWS_", "TF_")
KEEP = ("PAYMENTS_PROVIDER_MIRROR",)


class MotoServer:
    """``python -m moto.server`` on a loopback port: the one given, else a free one the server binds
    itself and prints (a port picked beforehand can be taken by another test's server before this
    one binds it, which then answers for it). Only this process is ever stopped.

    ``aws_managed_policies``: IAM knows AWS's managed policies (ReadOnlyAccess and the like), as the
    rehearsal's account stack needs. They cost the server ~0.5 s after every ``/moto-api/reset``,
    so tests that reset the endpoint per test and touch no managed policy turn them off."""

    def __init__(self, log_path: Path, port: int | None = None, *, aws_managed_policies: bool = True):
        self.aws_managed_policies = aws_managed_policies
        self.port = port or 0  # 0: the server binds a free port itself and says which (no race)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = READY_TIMEOUT) -> "MotoServer":
        env = clean_env()
        env.update(MOTO_IAM_LOAD_MANAGED_POLICIES=str(self.aws_managed_policies).lower(),
                   PYTHONDONTWRITEBYTECODE="1")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RehearsalError(f"moto_server exited with {self.proc.returncode}: "
                                     f"{tail(self.log_path)}")
            if not self.port:  # a port picked beforehand could be taken meanwhile by another server
                bound = RUNNING_ON.search(self.log_path.read_text(errors="replace"))
                if not bound:
                    time.sleep(0.1)
                    continue
                self.port = int(bound.group(1))
                self.url = f"http://127.0.0.1:{self.port}"
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/data.json", timeout=2) as resp:
                    if resp.status == 200 and self.proc.poll() is None:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RehearsalError(f"moto_server not ready on {self.url} after {timeout:.0f}s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # our own child only (its pid, not a name)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def clean_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without project settings, AWS credentials/profiles or TF_* knobs."""
    base = os.environ if base is None else base
    return {k: v for k, v in base.items() if k in KEEP or not k.startswith(LEAKING_PREFIXES)}


def endpoint_env(endpoint: str, region: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for terraform and boto3 talking to the local endpoint only."""
    env = clean_env(base)
    env.update(
        AWS_ACCESS_KEY_ID=REHEARSAL_KEY, AWS_SECRET_ACCESS_KEY=REHEARSAL_KEY,
        AWS_REGION=region, AWS_DEFAULT_REGION=region, AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL=endpoint, PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
