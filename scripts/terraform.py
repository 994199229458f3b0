"""Run Terraform the way this project needs it: with a CLI config written from project settings.

PAYMENTS_PROVIDER_MIRROR names a filesystem mirror of providers (for example the offline mirror of
hashicorp/aws 5.100.0 on CI machines). When it is unset, Terraform uses the public registry, as users
with internet access expect. Usage: ``python -m scripts.terraform <dir> <terraform args...>``; ``python -m scripts.terraform
--cli-config`` writes the config and prints its path (for ``TF_CLI_CONFIG_FILE``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import sys
from pathlib import Path
from typing import Mapping, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = PROJECT_ROOT / "build"
MIRROR_VAR = "PAYMENTS_PROVIDER_MIRROR"


def cli_config(mirror: str | None) -> str:
    """Terraform CLI config text: the mirror for every provider it has, nothing else fetched."""
    if not mirror:
        return "# PAYMENTS_PROVIDER_MIRROR unset: providers come from the public registry.\n"
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {str(Path(mirror).resolve())!r}\n"
        '    include = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
    ).replace("'", '"')


# Go's GC target for Terraform and the provider (a caller's GOGC wins). Every run has Terraform
# fetch and decode the AWS provider's schema, ~1,500 resource types, up to three times, allocating
# heavily: at 400 instead of Go's 100 a `terraform validate` of an environment takes a quarter less
# CPU for ~40 MB more peak memory (2026-12-03, tests: make bench and docs/maintainers/performance.md).
GO_GC_PERCENT = "400"


def terraform_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a terraform process: the project's CLI config, no prompts, no telemetry."""
    env = dict(os.environ if base is None else base)
    mirror = env.get(MIRROR_VAR, "")
    if mirror and not Path(mirror).is_dir():
        raise SystemExit(f"{MIRROR_VAR}={mirror} is not a directory")
    env.update(TF_CLI_CONFIG_FILE=str(write_cli_config(cli_config(mirror))), TF_IN_AUTOMATION="1", TF_INPUT="0",
               CHECKPOINT_DISABLE="1")
    env.setdefault("GOGC", GO_GC_PERCENT)
    return env


def write_cli_config(text: str) -> Path:
    """``build/terraform-<hash of the text>.rc``: one file per config, so no caller ever changes the
    file another uses; written whole (a temporary file renamed), never rewritten in place.

    Concurrent processes share these files: the test suite's workers, the rehearsal's Terraform runs
    beside each other, a `terraform init` reading its config while another process writes one. One
    file whose content depended on the caller (a process without PAYMENTS_PROVIDER_MIRROR wrote the
    registry config over the mirror's) sent another process's init to the unreachable registry."""
    BUILD_DIR.mkdir(exist_ok=True)
    rc = BUILD_DIR / f"terraform-{hashlib.sha256(text.encode()).hexdigest()[:12]}.rc"
    if not rc.exists():
        partial = rc.with_name(f".{rc.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_text(text)
        os.replace(partial, rc)  # atomic: a reader sees no file or the whole one, never half
    return rc


def run(workdir: Path, args: Sequence[str], env: Mapping[str, str] | None = None,
        check: bool = True, capture: bool = True, niceness: int = 0) -> subprocess.CompletedProcess[str]:
    """Run ``terraform <args>`` in ``workdir``; raise with Terraform's output when it fails.
    ``niceness``: a lower CPU priority for it and its provider (work beside a critical path)."""
    proc = subprocess.run(
        ["terraform", *args], cwd=workdir, env=terraform_env(env), text=True,
        stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None,
        preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"terraform {' '.join(args)} failed in {workdir}:\n{proc.stdout}")
    return proc


def cli_config_file() -> Path:
    """Write the project's CLI config and return its path: ``TF_CLI_CONFIG_FILE`` for Terraform that
    other tools start, such as ``cdktf deploy`` (``python -m scripts.terraform --cli-config``)."""
    return Path(terraform_env()["TF_CLI_CONFIG_FILE"])


if __name__ == "__main__":
    if sys.argv[1:] == ["--cli-config"]:
        print(cli_config_file())
        sys.exit(0)
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    sys.exit(run(Path(sys.argv[1]), sys.argv[2:], check=False, capture=False).returncode)
