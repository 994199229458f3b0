"""Create the Terraform state bucket, then move the bootstrap stack's own state into it.

``make bootstrap`` (``python -m scripts.bootstrap cdktf.out/stacks/payments-state``), once per account:

1. the synthesized ``payments-state`` stack declares the S3 backend (bucket, key
   ``payments/state/terraform.tfstate``, SSE-KMS under the state key) like every other stack; the
   bucket does not exist yet, so a ``backend_override.tf.json`` (a Terraform override file) swaps in
   a local backend whose file lives in ``.bootstrap/`` (not ``cdktf.out/`` or ``build/``, which
   ``make clean`` deletes);
2. ``terraform init`` + ``apply`` create the key, the alias and the bucket with that local state;
3. the override is removed and ``terraform init -migrate-state -force-copy`` copies the state into
   the bucket it just made; ``terraform state list`` then reads it back from S3;
4. only then is the local state file deleted.

Run again when the bucket exists, it applies the stack with its S3 backend (a no-op when nothing
changed). A failed step keeps the local state file and says where it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts import terraform  # noqa: E402

OVERRIDE = "backend_override.tf.json"
LOCAL_STATE_DIR = PROJECT_ROOT / ".bootstrap"
MISSING_BUCKET = ("NoSuchBucket", "does not exist")


def use_local_state(stack_dir: Path, local_state: Path) -> None:
    """Swap the stack's S3 backend for a local state file (a Terraform override file)."""
    (stack_dir / OVERRIDE).write_text(json.dumps(
        {"terraform": {"backend": {"local": {"path": str(local_state.resolve())}}}}, indent=2))


class BootstrapError(RuntimeError):
    """A step failed; the message says which and what to do."""


def s3_backend(stack_dir: Path) -> dict[str, object]:
    backend = json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"].get("backend", {})
    if "s3" not in backend:
        raise BootstrapError(f"{stack_dir.name} has no S3 backend (PAYMENTS_BACKEND=local?)")
    s3 = dict(backend["s3"])
    if not s3.get("bucket"):
        raise BootstrapError("the S3 backend names no bucket: set PAYMENTS_ACCOUNT_ID (or "
                             "PAYMENTS_STATE_BUCKET) and synthesize again")
    return s3


def bootstrap(stack_dir: Path, env: Mapping[str, str] | None = None,
              local_state: Path | None = None, log=print) -> str:
    """Bootstrap (or converge) the state stack in ``stack_dir``; returns what was done."""
    backend = s3_backend(stack_dir)
    local_state = local_state or LOCAL_STATE_DIR / f"{stack_dir.name}.tfstate"
    override = stack_dir / OVERRIDE

    def tf(*args: str, check: bool = True):
        return terraform.run(stack_dir, [*args], env=env, check=check)

    override.unlink(missing_ok=True)
    if not local_state.exists():
        probe = tf("init", "-input=false", "-no-color", "-reconfigure", check=False)
        if probe.returncode == 0:
            log(f"state bucket {backend['bucket']} exists: applying {stack_dir.name} with its S3 backend")
            tf("apply", "-auto-approve", "-input=false", "-no-color")
            return "converged"
        if not any(marker in probe.stdout for marker in MISSING_BUCKET):
            raise BootstrapError(f"terraform init failed:\n{probe.stdout}")
    # A local state file left by an interrupted run is picked up again rather than re-created.
    local_state.parent.mkdir(parents=True, exist_ok=True)
    use_local_state(stack_dir, local_state)
    try:
        log(f"creating {backend['bucket']} with local state in {local_state}")
        tf("init", "-input=false", "-no-color", "-reconfigure")
        tf("apply", "-auto-approve", "-input=false", "-no-color")
    finally:
        override.unlink(missing_ok=True)
    log(f"migrating the state into s3://{backend['bucket']}/{backend['key']}")
    tf("init", "-input=false", "-no-color", "-migrate-state", "-force-copy")
    listed = tf("state", "list").stdout.split()
    if not listed:
        raise BootstrapError(f"state in s3://{backend['bucket']}/{backend['key']} is empty after "
                             f"migration; the local copy stays in {local_state}")
    for leftover in (local_state, local_state.with_name(local_state.name + ".backup")):
        leftover.unlink(missing_ok=True)
    log(f"bootstrapped: {len(listed)} resources, state in s3://{backend['bucket']}/{backend['key']}")
    return "bootstrapped"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_dir", type=Path, nargs="?",
                        default=PROJECT_ROOT / "cdktf.out" / "stacks" / "payments-state")
    args = parser.parse_args(argv)
    try:
        bootstrap(args.stack_dir)
    except (BootstrapError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
