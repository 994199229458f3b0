"""Provider tags, the S3 state backend, and terraform validate against provider 5.100.0."""

import json
import os
import re
from pathlib import Path

import pytest

from modules.platform import read_backend_defaults
from scripts import terraform
from tests.support import PROJECT_ROOT


def test_provider_is_pinned_to_5_100_0(stack):
    assert stack.json["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"


def test_common_tags_come_through_default_tags(stack):
    tags = stack.json["provider"]["aws"][0]["default_tags"][0]["tags"]
    assert {"Environment", "Repository", "Author", "PRNumber", "Team"} <= set(tags)
    assert tags["Environment"] == "dev"


def test_no_resource_carries_a_timestamp(stack):
    assert "timestamp()" not in stack.text and "CreatedAt" not in stack.text


def test_backend_is_s3_with_lock_file_encryption_and_environment_key(stack):
    backend = stack.json["terraform"]["backend"]["s3"]
    assert backend["use_lockfile"] is True and backend["encrypt"] is True
    assert backend["key"] == "payments/dev/terraform.tfstate"


def test_backend_defaults_come_from_backend_tf_json(stack):
    defaults = read_backend_defaults()
    backend = stack.json["terraform"]["backend"]["s3"]
    assert backend["region"] == defaults["region"]
    # Without PAYMENTS_ACCOUNT_ID no bucket is guessed (tests/test_state.py has the account's).
    assert "bucket" not in backend


def test_backend_tf_json_is_terraform_json():
    data = json.loads((PROJECT_ROOT / "backend.tf.json").read_text())
    assert set(data["terraform"]["backend"]["s3"]) >= {"bucket", "key", "region", "encrypt", "kms_key_id",
                                                        "use_lockfile"}


def test_rehearsal_endpoint_is_off_by_default(stack):
    provider = stack.json["provider"]["aws"][0]
    assert "endpoints" not in provider and "access_key" not in provider


def test_cli_config_uses_the_mirror_only_when_set():
    assert "filesystem_mirror" in terraform.cli_config("/some/mirror")
    assert "provider_installation" not in terraform.cli_config(None)


@pytest.mark.parametrize("stack_name", ["payments-dev", "payments-state"])
def test_terraform_validate_passes(synth_root, stack_name):
    workdir = synth_root / "stacks" / stack_name
    terraform.run(workdir, ["init", "-backend=false", "-input=false", "-no-color"])
    out = terraform.run(workdir, ["validate", "-no-color", "-json"]).stdout
    result = json.loads(out)
    assert result["valid"] is True, result["diagnostics"]
    assert result["error_count"] == 0


def _locked_aws(text: str) -> str:
    found = re.search(r'provider "registry.terraform.io/hashicorp/aws" \{(.*?)\n\}', text, re.S)
    assert found, "the lock file has no hashicorp/aws entry"
    return found.group(1)


def test_every_synthesized_stack_carries_the_committed_lock_file(synth_root):
    committed = (PROJECT_ROOT / ".terraform.lock.hcl").read_bytes()
    for stack_name in ("payments-dev", "payments-state"):
        assert (synth_root / "stacks" / stack_name / ".terraform.lock.hcl").read_bytes() == committed


def test_lock_file_pins_the_provider_the_stacks_require(stack):
    version = stack.json["terraform"]["required_providers"]["aws"]["version"]
    locked = _locked_aws((PROJECT_ROOT / ".terraform.lock.hcl").read_text())
    assert re.search(rf'^\s*version\s+=\s+"{re.escape(version)}"$', locked, re.M)
    assert re.search(rf'^\s*constraints\s+=\s+"{re.escape(version)}"$', locked, re.M)  # what cdktf checks
    assert re.search(r'"h1:[A-Za-z0-9+/]{43}="', locked)


@pytest.mark.skipif(not os.environ.get(terraform.MIRROR_VAR), reason="needs PAYMENTS_PROVIDER_MIRROR")
def test_locked_hash_is_the_mirrors_provider(tmp_path, stack):
    """`terraform providers lock -fs-mirror` recomputes the hash from the mirror's provider."""
    (tmp_path / "main.tf.json").write_text(json.dumps(
        {"terraform": {"required_providers": stack.json["terraform"]["required_providers"]}}))
    terraform.run(tmp_path, ["providers", "lock", f"-fs-mirror={os.environ[terraform.MIRROR_VAR]}",
                             "-platform=linux_amd64"])
    mirror = set(re.findall(r'"(h1:[^"]+)"', _locked_aws((tmp_path / ".terraform.lock.hcl").read_text())))
    committed = set(re.findall(r'"(h1:[^"]+)"', _locked_aws((PROJECT_ROOT / ".terraform.lock.hcl").read_text())))
    assert mirror and mirror <= committed


def test_terraform_runs_with_a_less_eager_go_gc_unless_the_caller_chose_one():
    """Terraform and the provider allocate heavily exchanging the provider's schema (scripts/terraform.py)."""
    assert terraform.terraform_env({})["GOGC"] == terraform.GO_GC_PERCENT == "400"
    assert terraform.terraform_env({"GOGC": "100"})["GOGC"] == "100"


def test_a_process_without_the_mirror_leaves_the_mirrors_cli_config_alone(tmp_path, monkeypatch):
    """The suite's workers and the rehearsal's runs share build/: a caller without
    PAYMENTS_PROVIDER_MIRROR once wrote the registry config over the mirror's while another process's
    `terraform init` read it (a flaky validate). Each config now has its own file, written whole."""
    monkeypatch.setattr(terraform, "BUILD_DIR", tmp_path)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with_mirror = terraform.terraform_env({terraform.MIRROR_VAR: str(mirror)})["TF_CLI_CONFIG_FILE"]
    before = open(with_mirror).read()
    without = terraform.terraform_env({})["TF_CLI_CONFIG_FILE"]
    assert without != with_mirror and open(with_mirror).read() == before and "filesystem_mirror" in before
    assert "provider_installation" not in open(without).read()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".rc") == sorted(
        [Path(with_mirror).name, Path(without).name])
    other = tmp_path / "other-mirror"
    other.mkdir()  # a second mirror path: its own file, the first one's untouched
    assert terraform.terraform_env({terraform.MIRROR_VAR: str(other)})["TF_CLI_CONFIG_FILE"] not in (with_mirror, without)
    assert open(with_mirror).read() == before
