"""Benchmarks that print numbers (not timed tests): median wall time and peak memory over runs.

    python -m scripts.bench [--runs 5] [--suite-runs 3] [--rehearsal-runs 1]

Measures: per payment handler, cold start, warm request and AWS calls per request
(scripts/bench_handlers.py); synth of `dev` with the fast provider import, the same synth with the normal (eager)
import, the test suite without the rehearsal, each phase of the offline rehearsal, and the whole suite
as `make test` runs it (rehearsal included, beside the other tests). Prints the machine first (cores,
memory, CPU model, load average): timings on a shared machine are only comparable under similar load. Peak memory is
the largest resident set of the measured process tree (Python and the jsii Node kernel).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tests.support import clean_env  # noqa: E402  (same clean settings the tests synthesize with)


def measure(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``cmd``; raises if it fails."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return wall, usage.ru_maxrss / 1024


def series(label: str, runs: int, make_cmd: Callable[[int], tuple[Sequence[str], dict[str, str]]]) -> dict:
    walls, peaks = [], []
    for i in range(runs):
        cmd, env = make_cmd(i)
        wall, peak = measure(cmd, env)
        walls.append(wall)
        peaks.append(peak)
    row = {"label": label, "runs": runs, "median_s": statistics.median(walls),
           "min_s": min(walls), "max_s": max(walls), "peak_mib": max(peaks)}
    print(f"{label:<34} median {row['median_s']:6.2f}s  (min {row['min_s']:.2f}, max {row['max_s']:.2f}, "
          f"n={runs})  peak {row['peak_mib']:6.0f} MiB", flush=True)
    return row


def machine() -> str:
    """Cores, memory, CPU model and load: what the README's figures must be read against."""
    def first(path: str, prefix: str) -> str:
        try:
            return next((line.split(":", 1)[1].strip() for line in open(path) if line.startswith(prefix)), "?")
        except OSError:
            return "?"
    mem_kib = first("/proc/meminfo", "MemTotal").split()[0]
    mem = f"{int(mem_kib) / 1024 / 1024:.1f} GiB" if mem_kib.isdigit() else "?"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"machine: {platform.machine()}, {os.cpu_count()} cores (nproc), {mem} memory, "
            f"CPU {first('/proc/cpuinfo', 'model name')}, load average {load}; "
            f"python {platform.python_version()}, node {os.environ.get('JSII_NODE', 'node')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per synth benchmark")
    parser.add_argument("--suite-runs", type=int, default=3, help="runs of the test suite (0 skips)")
    parser.add_argument("--rehearsal-runs", type=int, default=1, help="rehearsals (0 skips)")
    parser.add_argument("--full-suite-runs", type=int, default=1,
                        help="runs of the whole suite, rehearsal included, as `make test` (0 skips)")
    parser.add_argument("--handler-requests", type=int, default=20,
                        help="warm requests per payment handler (scripts/bench_handlers.py; 0 skips)")
    args = parser.parse_args()
    print(machine(), flush=True)
    if args.handler_requests:
        from scripts import bench_handlers
        bench_handlers.run(args.handler_requests)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        def synth(mode: str) -> Callable[[int], tuple[Sequence[str], dict[str, str]]]:
            return lambda i: ([sys.executable, "main.py"],
                              clean_env(CDKTF_OUTDIR=f"{tmp}/{mode}-{i}", PAYMENTS_PROVIDER_IMPORT=mode))
        rows.append(series("synth dev (fast import)", args.runs, synth("fast")))
        rows.append(series("synth dev (normal import)", args.runs, synth("eager")))
        fast, eager = rows[0]["median_s"], rows[1]["median_s"]
        print(f"fast / normal = {fast / eager:.2f} (target <= 0.33; fast target <= 4 s)")
        if args.suite_runs:
            rows.append(series("test suite (without rehearsal)", args.suite_runs, lambda i: (
                [sys.executable, "-m", "pytest", "-q", "-m", "not rehearsal"], dict(os.environ))))
        for i in range(args.rehearsal_runs):
            report = Path(tmp) / f"rehearsal-{i}.json"
            rows.append(series("rehearsal (all phases)", 1, lambda _: (
                [sys.executable, "-m", "scripts.rehearse", "--report-json", str(report)], dict(os.environ))))
            if report.exists():
                result = json.loads(report.read_text())
                for phase, seconds in result.get("phases", {}).items():
                    print(f"  rehearsal phase {phase:<24} {seconds:6.1f}s")
                for what, seconds in result.get("steps", []):  # the commands inside those phases
                    print(f"    command {what:<32} {seconds:6.1f}s")
        if args.full_suite_runs:
            rows.append(series("test suite (whole, as make test)", args.full_suite_runs, lambda i: (
                [sys.executable, "-m", "pytest", "-q"], dict(os.environ))))
        print(machine().replace("machine:", "after:"), flush=True)


if __name__ == "__main__":
    main()
