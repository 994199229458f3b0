"""Synth as users run it: fast path equals the normal import, deterministic, and `cdktf synth` works."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import once_per_run
from tests.support import PROJECT_ROOT, clean_env, synth_environments

ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def both_imports(run_dir, synth_all):
    """The session's synth (fast path) and one with the normal import, every environment."""
    eager = once_per_run(run_dir, "synth-eager", lambda out: synth_environments(
        out, ENVIRONMENTS, PAYMENTS_PROVIDER_IMPORT="eager"))
    return synth_all, eager


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("stack_name", ["payments-{env}", "payments-state", "payments-account"])
def test_fast_import_synthesizes_byte_identical_json(both_imports, environment, stack_name):
    fast, eager = both_imports
    path = f"{environment}/stacks/{stack_name.format(env=environment)}/cdk.tf.json"
    assert (fast / path).read_bytes() == (eager / path).read_bytes()


def _checkout_copy(destination):
    """The tracked and untracked-but-not-ignored files, as a fresh checkout elsewhere would have them
    (new path, new file times, no __pycache__, no build/)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=PROJECT_ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source = PROJECT_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination / name)
    (destination / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    return destination


def test_another_checkout_synthesizes_byte_identical_json_and_assets(synth_root, tmp_path):
    checkout = _checkout_copy(tmp_path / "checkout")
    out = tmp_path / "out"
    subprocess.run([sys.executable, "main.py"], cwd=checkout, check=True, capture_output=True,
                   env=clean_env(CDKTF_OUTDIR=str(out)))
    for stack_name in ("payments-dev", "payments-state", "payments-account"):
        for name in ("cdk.tf.json", ".terraform.lock.hcl"):
            path = f"stacks/{stack_name}/{name}"
            assert (out / path).read_bytes() == (synth_root / path).read_bytes()
    ours = sorted(p.relative_to(synth_root) for p in (synth_root / "stacks").rglob("*.zip"))
    theirs = sorted(p.relative_to(out) for p in (out / "stacks").rglob("*.zip"))
    assert ours == theirs and len(ours) == 6  # asset folders are named by content hash


def test_prod_settings_reach_the_synthesized_stack(prod_stack):
    prod = prod_stack
    assert prod.one("aws_rds_cluster")["deletion_protection"] is True
    assert len(prod.resources("aws_nat_gateway")) == 3
    assert all(b["force_destroy"] is False for b in prod.resources("aws_s3_bucket").values())  # and its DR replica


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
    # what keeps `cdktf deploy` from running `terraform providers lock` (registry only) on a mirror
    assert (tmp_path / "stacks" / "payments-dev" / ".terraform.lock.hcl").exists()


def test_a_setting_can_be_given_to_one_environment_only():
    """``scripts.synth --set prod:NAME=VALUE``: how the tests give production its custom domain."""
    from scripts.synth import parse_settings
    assert parse_settings(["prod:PAYMENTS_API_DOMAIN_NAME=api.example.com", "prod:A=b=c", "dev:B="]) == {
        "prod": {"PAYMENTS_API_DOMAIN_NAME": "api.example.com", "A": "b=c"}, "dev": {"B": ""}}
    with pytest.raises(SystemExit, match="expected ENV:NAME=VALUE"):
        parse_settings(["PAYMENTS_API_DOMAIN_NAME=api.example.com"])
