"""Synthesize one or more environments in one process (one jsii kernel), each to its own folder.

``python -m scripts.synth --outdir build/synth dev staging prod`` writes
``build/synth/<env>/stacks/<stack>/cdk.tf.json``. Used by the tests and the benchmarks; ``make synth``
runs main.py directly. ``--set prod:PAYMENTS_API_DOMAIN_NAME=api.example.com`` gives one environment a
setting the others do not get (production's custom domain, for one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))


def synth(outdir: Path, environments: list[str],
          settings: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Each environment in turn; ``settings[env]`` are variables set for that environment only."""
    import modules  # noqa: F401  (fast provider import unless PAYMENTS_PROVIDER_IMPORT=eager)
    from cdktf import App

    from main import build_app, synth as synth_app

    shared = dict(os.environ)
    for environment in environments:
        os.environ.clear()
        os.environ.update(shared, ENVIRONMENT_SUFFIX=environment, **(settings or {}).get(environment, {}))
        (outdir / environment).mkdir(parents=True, exist_ok=True)
        app = App(outdir=str(outdir / environment))
        synth_app(build_app(app))


def parse_settings(items: list[str]) -> dict[str, dict[str, str]]:
    """``ENV:NAME=VALUE`` items -> {env: {NAME: VALUE}}."""
    parsed: dict[str, dict[str, str]] = {}
    for item in items:
        environment, sep, assignment = item.partition(":")
        name, equals, value = assignment.partition("=")
        if not (sep and equals and name):
            raise SystemExit(f"--set {item!r}: expected ENV:NAME=VALUE")
        parsed.setdefault(environment, {})[name] = value
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outdir", type=Path, required=True)
    parser.add_argument("--set", action="append", default=[], metavar="ENV:NAME=VALUE",
                        help="a variable for one environment only (repeatable)")
    parser.add_argument("environments", nargs="+")
    args = parser.parse_args()
    started = time.perf_counter()
    synth(args.outdir, args.environments, parse_settings(args.set))
    print(f"synthesized {' '.join(args.environments)} in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
