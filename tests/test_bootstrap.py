"""make bootstrap's refusals. The bootstrap itself (local state, then into its own bucket, SSE-KMS
under the state key, nothing left on disk, a second run converges) is rehearsed against the local
endpoint by the full rehearsal (scripts/rehearsal/state.py, tests/test_rehearsal.py), beside its deploy."""

from __future__ import annotations

import json

import pytest

from scripts import bootstrap

KEY = "payments/state/terraform.tfstate"


def test_bootstrap_refuses_a_backend_without_bucket(tmp_path):
    stack = tmp_path / "payments-state"
    stack.mkdir()
    (stack / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": {"s3": {"key": KEY}}}}))
    with pytest.raises(bootstrap.BootstrapError, match="PAYMENTS_ACCOUNT_ID"):
        bootstrap.bootstrap(stack)
