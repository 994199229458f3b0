"""Synth as users run it: fast path equals the normal import, deterministic, and `cdktf synth` works."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.support import PROJECT_ROOT, clean_env, synth_environments

ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def both_imports(tmp_path_factory):
    fast = synth_environments(tmp_path_factory.mktemp("fast"), ENVIRONMENTS)
    eager = synth_environments(tmp_path_factory.mktemp("eager"), ENVIRONMENTS,
                               PAYMENTS_PROVIDER_IMPORT="eager")
    return fast, eager


@pytest.mark.xdist_group("eager-import")
@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("stack_name", ["payments-{env}", "payments-state"])
def test_fast_import_synthesizes_byte_identical_json(both_imports, environment, stack_name):
    fast, eager = both_imports
    path = f"{environment}/stacks/{stack_name.format(env=environment)}/cdk.tf.json"
    assert (fast / path).read_bytes() == (eager / path).read_bytes()


@pytest.mark.xdist_group("eager-import")
def test_two_synths_of_the_same_commit_are_byte_identical(both_imports, synth_root):
    fast, _ = both_imports
    for stack_name in ("payments-dev", "payments-state"):
        path = f"stacks/{stack_name}/cdk.tf.json"
        assert (synth_root / path).read_bytes() == (fast / "dev" / path).read_bytes()


def test_prod_settings_reach_the_synthesized_stack(both_imports):
    from tests.support import Synthesized
    prod = Synthesized(both_imports[0] / "prod" / "stacks" / "payments-prod" / "cdk.tf.json")
    assert prod.one("aws_rds_cluster")["deletion_protection"] is True
    assert len(prod.resources("aws_nat_gateway")) == 3
    assert prod.one("aws_s3_bucket")["force_destroy"] is False


def test_cdktf_cli_synth_works(tmp_path):
    cdktf = shutil.which("cdktf", path=str(PROJECT_ROOT / "node_modules" / ".bin"))
    assert cdktf, "cdktf-cli is installed by `make deps` (package.json)"
    env = clean_env(CDKTF_OUTDIR=str(tmp_path), CHECKPOINT_DISABLE="1", CI="1")
    # cdktf.json runs `python main.py`: the project's virtualenv and Node 22 come first on PATH.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable),
                                   str(PROJECT_ROOT / "node_modules" / ".bin"), env["PATH"]])
    subprocess.run([cdktf, "synth", "--output", str(tmp_path)], cwd=PROJECT_ROOT, env=env,
                   check=True, capture_output=True, text=True, timeout=300)
    assert (tmp_path / "stacks" / "payments-dev" / "cdk.tf.json").exists()
