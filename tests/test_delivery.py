"""Zero-downtime delivery: aliases CodeDeploy owns, deployment groups with alarm rollback."""

import pytest

FUNCTIONS = ("validate", "fraud-check", "process", "audit-writer")


def _group(stack, key):
    return stack.one("aws_codedeploy_deployment_group", deployment_group_name=f"payment-{key}-dev")


def test_codedeploy_application_is_on_the_lambda_platform(stack):
    assert stack.one("aws_codedeploy_app")["compute_platform"] == "Lambda"


@pytest.mark.parametrize("key", FUNCTIONS)
def test_alias_leaves_version_and_weights_to_codedeploy(stack, key):
    fn_ref = stack.ref("aws_lambda_function", "function_name", function_name=f"payment-{key}-dev")
    alias = stack.one("aws_lambda_alias", function_name=fn_ref)
    assert alias["lifecycle"]["ignore_changes"] == ["function_version", "routing_config"]


@pytest.mark.parametrize("key", FUNCTIONS)
def test_group_uses_canary_by_default_with_traffic_control(stack, key):
    group = _group(stack, key)
    assert group["deployment_config_name"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["deployment_style"] == {"deployment_option": "WITH_TRAFFIC_CONTROL", "deployment_type": "BLUE_GREEN"}


@pytest.mark.parametrize("key", FUNCTIONS)
def test_group_rolls_back_on_failure_and_on_alarm(stack, key):
    rollback = _group(stack, key)["auto_rollback_configuration"]
    assert rollback["enabled"] is True
    assert set(rollback["events"]) == {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"}


@pytest.mark.parametrize("key", FUNCTIONS)
def test_group_watches_its_error_alarm_and_the_api_alarms(stack, key):
    alarms = _group(stack, key)["alarm_configuration"]
    def ref(name):
        return stack.ref("aws_cloudwatch_metric_alarm", "alarm_name", alarm_name=name)
    assert alarms["enabled"] is True
    assert alarms["alarms"] == [ref(f"payment-{key}-errors-alarm-dev"), ref("payment-api-5xx-alarm-dev"),
                                ref("payment-api-p99-latency-alarm-dev")]


@pytest.mark.parametrize("key", FUNCTIONS)
def test_group_notifies_the_alert_topic(stack, key):
    [trigger] = _group(stack, key)["trigger_configuration"]
    assert trigger["trigger_target_arn"] == stack.ref("aws_sns_topic", "arn")
    assert {"DeploymentFailure", "DeploymentRollback"} <= set(trigger["trigger_events"])


def test_service_role_uses_the_managed_lambda_deployment_policy(stack):
    role = stack.ref("aws_iam_role", "name", name="payment-codedeploy-dev")
    [attachment] = [a for a in stack.resources("aws_iam_role_policy_attachment").values() if a["role"] == role]
    assert attachment["policy_arn"].endswith(":iam::aws:policy/service-role/AWSCodeDeployRoleForLambda")


def test_prod_releases_linearly(prod_stack):
    configs = {g["deployment_config_name"] for g in prod_stack.resources("aws_codedeploy_deployment_group").values()}
    assert configs == {"CodeDeployDefault.LambdaLinear10PercentEvery1Minute"}


def test_service_role_may_use_the_key_of_the_encrypted_alert_topic_via_sns_only(stack):
    from tests.support import statement
    policy = stack.policy(stack.one("aws_iam_role_policy", name="notify-encrypted-alert-topic"))
    st = statement(policy, "EncryptForAlertTopic")
    assert st["Resource"] == [stack.ref("aws_kms_key", "arn", enable_key_rotation=True)]
    assert st["Condition"] == {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}
    assert stack.ref("aws_sns_topic", "arn") and stack.one("aws_sns_topic")["kms_master_key_id"].startswith(
        "${aws_kms_key.")
