"""Provider tags, the S3 state backend, and terraform validate against provider 5.100.0."""

import json

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
