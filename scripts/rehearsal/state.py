"""The rehearsal's check of ``make bootstrap`` (scripts/bootstrap.py): after it ran twice beside the
deploy, the state stack's state is in its own bucket, SSE-KMS under the key the backend names, and
no copy is left on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from scripts import bootstrap
from scripts.rehearsal.common import RehearsalError

# What the state stack must hold once bootstrapped (its bucket policy is on the exclusion list).
STATE_STACK_TYPES = {"aws_s3_bucket", "aws_kms_key", "aws_kms_alias", "aws_s3_bucket_versioning"}


def check_bootstrap(s3: Any, stack_dir: Path, local_state: Path, runs: Sequence[str]) -> str:
    """Raise unless the first run bootstrapped, the second converged through the S3 backend, and the
    state object is where the backend says, encrypted as it says; returns the report note."""
    if list(runs) != ["bootstrapped", "converged"]:
        raise RehearsalError(f"make bootstrap twice: expected bootstrapped, converged; got {list(runs)}")
    backend = bootstrap.s3_backend(stack_dir)
    bucket, key = str(backend["bucket"]), str(backend["key"])
    head = s3.head_object(Bucket=bucket, Key=key)
    if (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) != ("aws:kms", backend["kms_key_id"]):
        raise RehearsalError(f"s3://{bucket}/{key} is not SSE-KMS under {backend['kms_key_id']}: "
                             f"{head.get('ServerSideEncryption')}, {head.get('SSEKMSKeyId')}")
    state = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    missing = STATE_STACK_TYPES - {r["type"] for r in state.get("resources", [])}
    if missing:
        raise RehearsalError(f"the migrated state lacks {sorted(missing)}")
    leftovers = [str(p) for p in (local_state, stack_dir / bootstrap.OVERRIDE, *stack_dir.glob("*.tfstate"))
                 if p.exists()]
    if leftovers:
        raise RehearsalError(f"bootstrap left local state or its override behind: {leftovers}")
    return (f"make bootstrap: state in s3://{bucket}/{key} (SSE-KMS, {backend['kms_key_id']}), "
            f"no local copy; run again: converged")
