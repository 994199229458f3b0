"""Handler benchmark for `make bench`: per payment handler, the cold start (handler import and first
request) and the warm request, and the AWS calls each request makes.

Each handler runs in a fresh Python process against moto in-process (the data model the handler
tests build, tests/lambdas/conftest.py), so "cold" is a new execution environment minus what moto
itself imports (boto3 and botocore are already loaded: on Lambda their import is part of the cold
init, ~150-300 ms). AWS calls are counted with botocore's ``before-parameter-build`` hook; on AWS
each costs a network round trip that moto does not, so read the times next to the latency model in
docs/maintainers/performance-latency.md, not as production latencies.
"""

from __future__ import annotations

import collections
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HANDLERS = {"validate": ("validate_handler", "/validate"), "fraud-check": ("fraud_check_handler", "/fraud-check"),
            "process": ("process_handler", "/process")}


def _one(key: str, warm_requests: int) -> dict:
    """Runs inside the child process: one handler, cold then warm."""
    sys.path.insert(0, str(PROJECT_ROOT / "tests" / "lambdas"))
    import botocore.session
    import pytest
    from moto import mock_aws

    import conftest  # tests/lambdas/conftest.py: the environment and the tables the functions use
    import boto3
    from payments_testkit import api_event, valid_payload

    calls: list[str] = []
    original = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build.*.*", lambda model, **_: calls.append(
            f"{model.service_model.service_name}:{model.name}"))
        return client

    with pytest.MonkeyPatch.context() as mp, mock_aws():
        conftest._apply_env(mp)
        _, _, _, key_arn, fingerprint_arn = conftest._create_resources(boto3)
        mp.setenv("AUDIT_KMS_KEY_ID", key_arn)
        mp.setenv("CARD_FINGERPRINT_KEY_ID", fingerprint_arn)
        botocore.session.Session.create_client = create_client
        module_name, path = HANDLERS[key]

        def request(i: int) -> tuple[float, list[str]]:
            headers = {"Content-Type": "application/json", "Idempotency-Key": f"bench-{i}"}
            event = api_event(valid_payload(customer_id=f"bench_{i}"), headers=headers, path=path)
            start, first = time.perf_counter(), len(calls)
            response = handler(event, None)
            assert response["statusCode"] == 200, response
            return (time.perf_counter() - start) * 1000, calls[first:]

        started = time.perf_counter()
        handler = __import__(module_name).handler
        import_ms = (time.perf_counter() - started) * 1000
        first_ms, cold_calls = request(0)
        warm = [request(i) for i in range(1, warm_requests + 1)]
    return {"handler": key, "import_ms": import_ms, "first_ms": first_ms,
            "warm_median_ms": statistics.median(ms for ms, _ in warm),
            "cold_calls": dict(collections.Counter(cold_calls)), "warm_calls": dict(collections.Counter(warm[-1][1]))}


def run(warm_requests: int = 20) -> list[dict]:
    """One child process per handler; prints a table and returns the rows."""
    rows = []
    print(f"{'handler':<12} {'cold import':>11} {'1st request':>11} {'warm median':>11}  AWS calls (cold | warm)")
    for key in HANDLERS:
        out = subprocess.run([sys.executable, "-m", "scripts.bench_handlers", key, str(warm_requests)],
                             cwd=PROJECT_ROOT, capture_output=True, text=True, env=dict(os.environ))
        if out.returncode != 0:
            raise SystemExit(f"handler bench {key} failed:\n{out.stderr[-3000:]}")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)

        def calls(counter: dict) -> str:
            return ", ".join(f"{n} {name}" for name, n in sorted(counter.items())) or "none"
        print(f"{key:<12} {row['import_ms']:9.0f}ms {row['first_ms']:9.0f}ms {row['warm_median_ms']:9.1f}ms  "
              f"{calls(row['cold_calls'])} | {calls(row['warm_calls'])}", flush=True)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3:
        result = _one(sys.argv[1], int(sys.argv[2]))
        sys.stdout.write("\n" + json.dumps(result) + "\n")
    else:
        run()
