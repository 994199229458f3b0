"""ReleasePipeline: CodeDeploy application, service role (inline, on this platform's functions, alarms
and topic only), one blue/green group per function."""

import json

import pytest
from cdktf import Testing
from cdktf_cdktf_provider_aws.codedeploy_app import CodedeployApp
from cdktf_cdktf_provider_aws.codedeploy_deployment_group import CodedeployDeploymentGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.delivery import DeliveryProps, ReleasePipeline
from tests.constructs.conftest import ACCOUNT, KEY_ARN, TOPIC_ARN, scoped

PROCESS_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:payment-process-dev"


@pytest.fixture(scope="module")
def built(dev):
    """The pipeline of one function, as the payment stack wires it (names, ARNs, alarms)."""
    return scoped(lambda scope: ReleasePipeline(scope, "delivery", DeliveryProps(
        settings=dev, alert_topic_arn=TOPIC_ARN, kms_key_arn=KEY_ARN,
        function_names={"process": "payment-process-dev"}, function_arns={"process": PROCESS_ARN},
        function_alarm_names={"process": "payment-process-errors-alarm-dev"},
        api_alarm_names=["payment-api-5xx-alarm-dev"], account_id=ACCOUNT)))


def test_one_group_per_function_rolls_back_on_its_alarms(built, dev):
    s = built.synthesized
    assert Testing.to_have_resource_with_properties(s, CodedeployApp.TF_RESOURCE_TYPE, {
        "name": "payment-release-dev", "compute_platform": "Lambda"})
    assert Testing.to_have_resource_with_properties(s, CodedeployDeploymentGroup.TF_RESOURCE_TYPE, {
        "deployment_group_name": "payment-process-dev",
        "deployment_config_name": dev.deployment_config,
        "deployment_style": {"deployment_option": "WITH_TRAFFIC_CONTROL", "deployment_type": "BLUE_GREEN"},
        "auto_rollback_configuration": {"enabled": True},
        "alarm_configuration": {"enabled": True,
                                "alarms": ["payment-process-errors-alarm-dev", "payment-api-5xx-alarm-dev"]},
        "trigger_configuration": [{"trigger_target_arn": TOPIC_ARN}]})
    assert set(built.construct.groups) == {"process"}


def test_service_role_is_inline_on_its_own_functions_alarms_and_topic(built):
    s = built
    # Not AWSCodeDeployRoleForLambda (lambda:* alias moves and sns:Publish on every resource).
    assert not Testing.to_have_resource(s.synthesized, IamRolePolicyAttachment.TF_RESOURCE_TYPE)
    (role,) = s.resources(IamRole.TF_RESOURCE_TYPE).values()
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == \
        f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:deploymentgroup:payment-release-dev/*"
    policies = {p["name"]: json.loads(p["policy"])["Statement"] for p in s.resources(IamRolePolicy.TF_RESOURCE_TYPE).values()}
    release = {st["Sid"]: st for st in policies["release-payment-functions"]}
    assert sorted(release["ShiftLiveAliases"]["Resource"]) == [PROCESS_ARN, f"{PROCESS_ARN}:*"]
    assert sorted(release["WatchRollbackAlarms"]["Resource"]) == [
        f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:payment-api-5xx-alarm-dev",
        f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:payment-process-errors-alarm-dev"]
    assert release["NotifyAlertTopic"]["Resource"] == [TOPIC_ARN]
    (topic_key,) = policies["notify-encrypted-alert-topic"]
    assert topic_key["Resource"] == [KEY_ARN]
    assert topic_key["Condition"] == {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}
