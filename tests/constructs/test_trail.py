"""DataEventTrail: a CloudTrail trail of S3 object-level events under given ARN prefixes (state and
audit objects), with its own key, log bucket and log group, each usable by this trail only."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.cloudtrail import Cloudtrail
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy

from modules.trail import DataEventTrail, DataEventTrailProps, trail_arn
from tests.constructs.conftest import ACCOUNT, Scoped, scoped

PROPS = DataEventTrailProps(
    name="payment-object-access-trail", log_bucket_name=f"payment-trail-logs-{ACCOUNT}",
    object_arn_prefixes=["arn:aws:s3:::payments-terraform-state/", "arn:aws:s3:::payment-audit-logs-"],
    account_id=ACCOUNT, region="us-east-1")
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/payment-object-access-trail"


@pytest.fixture(scope="module")
def trail() -> Scoped:
    return scoped(lambda scope: DataEventTrail(scope, "trail", PROPS))


def test_records_object_events_under_the_prefixes_with_signed_digests(trail):
    t = trail.construct
    assert Testing.to_have_resource_with_properties(trail.synthesized, Cloudtrail.TF_RESOURCE_TYPE, {
        "name": "payment-object-access-trail", "enable_log_file_validation": True,
        "is_multi_region_trail": True, "s3_bucket_name": trail.ref(t.log_bucket.name),
        "kms_key_id": trail.ref(t.key.arn), "cloud_watch_logs_group_arn": f"{trail.ref(t.log_group.arn)}:*",
        "advanced_event_selector": [{
            "name": "Object-level events of the state and audit buckets",
            "field_selector": [
                {"field": "eventCategory", "equals": ["Data"]},
                {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                {"field": "resources.ARN", "starts_with": list(PROPS.object_arn_prefixes)}]}]})
    assert trail_arn(PROPS) == TRAIL_ARN


def test_key_serves_this_trail_and_its_log_group_only(trail):
    assert Testing.to_have_resource_with_properties(trail.synthesized, KmsKey.TF_RESOURCE_TYPE, {
        "enable_key_rotation": True})
    (key,) = trail.resources(KmsKey.TF_RESOURCE_TYPE).values()
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    assert statements["CloudTrailEncryptsLogFiles"]["Condition"]["StringEquals"] == {"aws:SourceArn": TRAIL_ARN}
    assert statements["CloudWatchLogsEncryptsTrailLogGroup"]["Condition"] == {"ArnEquals": {
        "kms:EncryptionContext:aws:logs:arn":
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/cloudtrail/payment-object-access-trail"}}
    assert Testing.to_have_resource_with_properties(trail.synthesized, CloudwatchLogGroup.TF_RESOURCE_TYPE, {
        "name": "/aws/cloudtrail/payment-object-access-trail", "retention_in_days": 365,
        "kms_key_id": trail.ref(trail.construct.key.arn)})


def test_log_bucket_takes_this_trails_files_only(trail):
    assert Testing.to_have_resource_with_properties(trail.synthesized, S3Bucket.TF_RESOURCE_TYPE, {
        "bucket": f"payment-trail-logs-{ACCOUNT}"})
    (policy,) = trail.resources(S3BucketPolicy.TF_RESOURCE_TYPE).values()
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    write = statements["CloudTrailWritesLogFiles"]
    assert write["Resource"] == [f"arn:aws:s3:::payment-trail-logs-{ACCOUNT}/AWSLogs/{ACCOUNT}/*"]
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == TRAIL_ARN
    (role,) = trail.resources(IamRole.TF_RESOURCE_TYPE).values()
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN, "aws:SourceAccount": ACCOUNT}}
