"""make bootstrap, rehearsed against the local endpoint: the state bucket is created with local
state, then holds that state itself, SSE-KMS under the state key; nothing is left in cdktf.out/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import bootstrap, rehearse
from tests.support import PROJECT_ROOT

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
BUCKET = f"payments-terraform-state-{ACCOUNT}-{REGION}"
KEY = "payments/state/terraform.tfstate"
ALIAS_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/payment-terraform-state"


def synth_state_stack(outdir: Path, endpoint: str) -> Path:
    env = rehearse.clean_env()
    env.update(PAYMENTS_AWS_ENDPOINT=endpoint, PAYMENTS_ACCOUNT_ID=ACCOUNT, PYTHONDONTWRITEBYTECODE="1")
    subprocess.run([sys.executable, "-m", "scripts.rehearse", "--synth-into", str(outdir)],
                   cwd=PROJECT_ROOT, env=env, check=True, capture_output=True, text=True)
    return outdir / "stacks" / "payments-state"


@pytest.mark.rehearsal
def test_bootstrap_moves_the_state_stack_state_into_its_own_bucket_under_the_state_key(tmp_path):
    with rehearse.MotoServer(tmp_path / "moto.log") as server:
        stack_dir = synth_state_stack(tmp_path / "synth", server.url)
        assert json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"]["backend"]["s3"]["bucket"] == BUCKET
        env = rehearse.endpoint_env(server.url, REGION)
        env["TF_PLUGIN_CACHE_DIR"] = str(rehearse.plugin_cache())
        local_state = tmp_path / "local" / "payments-state.tfstate"
        assert bootstrap.bootstrap(stack_dir, env, local_state, log=lambda _: None) == "bootstrapped"

        s3 = rehearse.SmokeContext("dev", REGION, server.url, {}, {}).boto("s3")
        head = s3.head_object(Bucket=BUCKET, Key=KEY)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == ALIAS_ARN, head  # the key the backend names, not the bucket default
        state = json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())
        types = {r["type"] for r in state["resources"]}
        # (the bucket policy is on the rehearsal exclusion list: moto cannot evaluate its conditions)
        assert {"aws_s3_bucket", "aws_kms_key", "aws_kms_alias", "aws_s3_bucket_versioning"} <= types
        assert not local_state.exists(), "the local copy is removed once S3 holds the state"
        assert not (stack_dir / bootstrap.OVERRIDE).exists()
        assert not list(stack_dir.glob("*.tfstate")), "no state left next to the synthesized stack"
        # A second run finds the bucket and converges through the S3 backend.
        assert bootstrap.bootstrap(stack_dir, env, local_state, log=lambda _: None) == "converged"
        assert not local_state.exists()


def test_bootstrap_refuses_a_backend_without_bucket(tmp_path):
    stack = tmp_path / "payments-state"
    stack.mkdir()
    (stack / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": {"s3": {"key": KEY}}}}))
    with pytest.raises(bootstrap.BootstrapError, match="PAYMENTS_ACCOUNT_ID"):
        bootstrap.bootstrap(stack)
