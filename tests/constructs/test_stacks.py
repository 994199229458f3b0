"""The stacks as a user composes them: provider, backend, data sources, outputs; and the whole
payment stack through ``Testing.full_synth`` + ``Testing.to_be_valid_terraform`` (terraform init +
validate, offline through PAYMENTS_PROVIDER_MIRROR; see tests/conftest.py ``pytest_configure``)."""

import json
import shutil
from pathlib import Path

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.cloudtrail import Cloudtrail
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket

from modules.stacks.account_stack import AccountStack
from modules.stacks.payment_stack import PaymentStack
from modules.stacks.state_stack import StateBucketStack
from tests.constructs.conftest import ACCOUNT, cdktf_testing_app, settings_for, synth_stack


def synth_state_stack(settings, **kwargs) -> str:
    return synth_stack(lambda app: StateBucketStack(app, settings, **kwargs))


@pytest.fixture(scope="module")
def state_stack(dev) -> str:
    return synth_state_stack(dev, bucket="payments-test-state")


@pytest.fixture(scope="module")
def payment_stack(dev) -> PaymentStack:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PAYMENTS_BACKEND", "local")  # `terraform init` of the matcher needs no AWS
        return PaymentStack(cdktf_testing_app(), dev)


def test_state_stack_provider_carries_the_common_tags(state_stack, dev):
    assert Testing.to_have_provider_with_properties(state_stack, AwsProvider.TF_RESOURCE_TYPE, {
        "region": "us-east-1", "default_tags": [{"tags": dev.tags}]})
    assert Testing.to_have_data_source_with_properties(state_stack, DataAwsCallerIdentity.TF_RESOURCE_TYPE, {})


def test_state_stack_creates_the_backend_bucket_with_its_own_key(state_stack):
    assert Testing.to_have_resource_with_properties(state_stack, S3Bucket.TF_RESOURCE_TYPE, {
        "bucket": "payments-test-state", "force_destroy": False})
    assert Testing.to_have_resource_with_properties(state_stack, KmsKey.TF_RESOURCE_TYPE, {
        "enable_key_rotation": True, "deletion_window_in_days": 30})
    # Backends have no Testing matcher: read the JSON. Its own state goes to the S3 backend too (the
    # offline rehearsal applies it with a local backend_override.tf.json, scripts/rehearse.py).
    # Without PAYMENTS_ACCOUNT_ID the bucket is left out (partial configuration: init asks for it).
    assert json.loads(state_stack)["terraform"]["backend"] == {"s3": {
        "key": "payments/state/terraform.tfstate", "region": "us-east-1", "encrypt": True,
        "kms_key_id": "alias/payment-terraform-state", "use_lockfile": True}}


def test_state_stack_backend_names_the_account_bucket_and_key():
    synthesized = synth_state_stack(settings_for("dev", account_id=ACCOUNT))
    assert json.loads(synthesized)["terraform"]["backend"]["s3"] == {
        "bucket": f"payments-terraform-state-{ACCOUNT}-us-east-1", "key": "payments/state/terraform.tfstate",
        "region": "us-east-1", "encrypt": True, "use_lockfile": True, "allowed_account_ids": [ACCOUNT],
        "kms_key_id": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/payment-terraform-state"}
    assert Testing.to_have_provider_with_properties(synthesized, AwsProvider.TF_RESOURCE_TYPE, {
        "allowed_account_ids": [ACCOUNT]})
    assert Testing.to_have_resource_with_properties(synthesized, S3Bucket.TF_RESOURCE_TYPE, {
        "bucket": f"payments-terraform-state-{ACCOUNT}-us-east-1"})


def test_account_stack_records_who_reads_the_state_and_owns_api_gateway_logging():
    synthesized = synth_stack(lambda app: AccountStack(app, settings_for("dev")))
    assert Testing.to_have_resource_with_properties(synthesized, Cloudtrail.TF_RESOURCE_TYPE, {
        "name": "payment-object-access-trail", "enable_log_file_validation": True})
    assert Testing.to_have_resource_with_properties(synthesized, ApiGatewayAccount.TF_RESOURCE_TYPE, {})
    assert json.loads(synthesized)["terraform"]["backend"]["s3"]["key"] == "payments/account/terraform.tfstate"

def test_payment_stack_provider_and_data_sources(payment_stack, dev):
    synthesized = Testing.synth(payment_stack)
    assert Testing.to_have_provider_with_properties(synthesized, AwsProvider.TF_RESOURCE_TYPE, {
        "region": dev.region, "default_tags": [{"tags": {"Environment": "dev", "ManagedBy": "cdktf"}}]})
    assert not Testing.to_have_provider_with_properties(synthesized, AwsProvider.TF_RESOURCE_TYPE, {
        "skip_credentials_validation": True})  # rehearsal-only flags stay out of a real deployment
    assert Testing.to_have_data_source_with_properties(synthesized, DataAwsPartition.TF_RESOURCE_TYPE, {})
    outputs = json.loads(synthesized)["output"]
    assert {"vpc-id", "api-url", "transaction-table", "audit-bucket", "kms-key-id"} <= set(outputs)


def test_payment_stack_is_valid_terraform(payment_stack):
    outdir = Path(Testing.full_synth(payment_stack))
    try:
        assert (outdir / "stacks" / "payments-dev" / "cdk.tf.json").is_file()
        assert Testing.to_be_valid_terraform(str(outdir))
        assert (outdir / "stacks" / "payments-dev" / ".terraform.lock.hcl").is_file()  # init really ran
    finally:
        shutil.rmtree(outdir)
