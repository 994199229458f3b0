"""Synthesize one or more environments in one process (one jsii kernel), each to its own folder.

``python -m scripts.synth --outdir build/synth dev staging prod`` writes
``build/synth/<env>/stacks/<stack>/cdk.tf.json``. Used by the tests and the benchmarks; ``make synth``
runs main.py directly.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))


def synth(outdir: Path, environments: list[str]) -> None:
    import modules  # noqa: F401  (fast provider import unless PAYMENTS_PROVIDER_IMPORT=eager)
    from cdktf import App

    from main import build_app, synth as synth_app

    for environment in environments:
        os.environ["ENVIRONMENT_SUFFIX"] = environment
        (outdir / environment).mkdir(parents=True, exist_ok=True)
        app = App(outdir=str(outdir / environment))
        synth_app(build_app(app))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outdir", type=Path, required=True)
    parser.add_argument("environments", nargs="+")
    args = parser.parse_args()
    started = time.perf_counter()
    synth(args.outdir, args.environments)
    print(f"synthesized {' '.join(args.environments)} in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
