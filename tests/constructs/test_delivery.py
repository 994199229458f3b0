"""ReleasePipeline: CodeDeploy application, service role, one blue/green group per function."""

from cdktf import Testing
from cdktf_cdktf_provider_aws.codedeploy_app import CodedeployApp
from cdktf_cdktf_provider_aws.codedeploy_deployment_group import CodedeployDeploymentGroup
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.delivery import DeliveryProps, ReleasePipeline
from tests.constructs.conftest import KEY_ARN, TOPIC_ARN, scoped


def test_one_group_per_function_rolls_back_on_its_alarms(dev):
    built = scoped(lambda scope: ReleasePipeline(scope, "delivery", DeliveryProps(
        settings=dev, alert_topic_arn=TOPIC_ARN, kms_key_arn=KEY_ARN,
        function_names={"process": "payment-process-dev"},
        function_alarm_names={"process": "payment-process-errors-alarm-dev"},
        api_alarm_names=["payment-api-5xx-alarm-dev"])))
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
    assert Testing.to_have_resource_with_properties(s, IamRolePolicyAttachment.TF_RESOURCE_TYPE, {
        "policy_arn": "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"})
    assert set(built.construct.groups) == {"process"}
