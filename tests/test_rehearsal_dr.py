"""The disaster-recovery rehearsal (scripts/rehearsal/dr.py) end to end: the standby of a staging-like
environment applied in us-west-2 of a local endpoint (a plan after it changes nothing), the synthetic
merchant onboarded into both regions' pools, then `make failover` and `make failback` through them,
each refused once for a reason it must refuse on and then done, each verified by a payment in its
target region. (`make rehearse-dr` then destroys the standby; here the endpoint is thrown away.)"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT, clean_env


@pytest.mark.dr_rehearsal
def test_dr_rehearsal(tmp_path: Path) -> None:
    env = clean_env()
    env.setdefault("JSII_NODE", str(PROJECT_ROOT / "node_modules" / ".bin" / "node"))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "scripts.rehearsal.dr", "--workdir", str(tmp_path / "work"),
                           "--keep"],
                          cwd=PROJECT_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=900)
    report = proc.stdout[proc.stdout.rfind("dr rehearsal report:"):]
    assert proc.returncode == 0 and report.rstrip().endswith("dr rehearsal: OK"), proc.stdout[-8000:]
    phases = {line.split()[0]: line for line in report.splitlines()[1:] if line.startswith("  ") and not line.startswith("    ")}
    # --keep: no destroy phase here (the endpoint is thrown away; make rehearse-dr destroys the standby,
    # and the main rehearsal destroys every one of these resource types)
    for name in ("synth", "lay-out", "apply", "onboard", "failover", "failback"):
        assert name in phases and " ok" in phases[name], report
    assert "plan after apply: no changes" in phases["apply"], report
    # identity: the standby's client is keyed by the merchant id; the secret reaches the DR region
    assert "in us-west-2's pool keyed by it; its secret replicated to us-west-2 with both pairs" in phases["onboard"]
    # the fence and the lag check: refusals change nothing that could pay twice; then a real payment
    assert "refused while the standby's canary alarm was ALARM, nothing changed" in phases["failover"]
    assert ("done: us-east-1 fenced, the database's headless secondary payment-customer-db-staging-us-west-2 "
            "detached, us-west-2 open, the synthetic merchant's payment stored in us-west-2") in phases["failover"]
    assert "refused at 4.2 s of lag (RPO 1 s): both regions fenced" in phases["failback"]
    assert "us-west-2 fenced, us-east-1 open, its payment stored" in phases["failback"]
    # what the endpoint cannot do is laid out, and said so
    assert "as replication makes it: replica key alias/payment-card-fingerprint-staging" in phases["lay-out"]
    assert "the customer database's global cluster made from its primary" in phases["lay-out"]
    print(report, f"\n(wall {time.monotonic() - started:.0f}s)")
