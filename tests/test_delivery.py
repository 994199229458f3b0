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


ACCOUNT = "${data.aws_caller_identity.caller.account_id}"
PARTITION = "${data.aws_partition.partition.partition}"


def _release_policy(stack):
    return stack.policy(stack.one("aws_iam_role_policy", name="release-payment-functions"))


def test_service_role_has_no_managed_policy(stack):
    # AWSCodeDeployRoleForLambda allows lambda:UpdateAlias (and sns:Publish, DescribeAlarms) on "*".
    role = stack.ref("aws_iam_role", "name", name="payment-codedeploy-dev")
    assert not [a for a in stack.resources("aws_iam_role_policy_attachment").values() if a["role"] == role]


def test_service_role_moves_aliases_of_the_platform_functions_only(stack):
    from tests.support import statement
    st = statement(_release_policy(stack), "ShiftLiveAliases")
    assert set(st["Action"]) == {"lambda:GetAlias", "lambda:UpdateAlias", "lambda:GetProvisionedConcurrencyConfig"}
    arns = [stack.ref("aws_lambda_function", "arn", function_name=f"payment-{key}-dev") for key in FUNCTIONS]
    assert sorted(st["Resource"]) == sorted([r for a in arns for r in (a, f"{a}:*")])


def test_service_role_invokes_only_codedeploy_hook_functions(stack):
    from tests.support import statement
    st = statement(_release_policy(stack), "RunTrafficHooks")
    assert st["Action"] == ["lambda:InvokeFunction"]
    assert st["Resource"] == [f"arn:{PARTITION}:lambda:us-east-1:{ACCOUNT}:function:CodeDeployHook_*"]


def test_service_role_reads_only_the_rollback_alarms_and_publishes_only_to_the_alert_topic(stack):
    from tests.support import statement
    policy = _release_policy(stack)
    watched = {a for g in stack.resources("aws_codedeploy_deployment_group").values()
               for a in g["alarm_configuration"]["alarms"]}
    assert {r.rsplit(":alarm:", 1)[1] for r in statement(policy, "WatchRollbackAlarms")["Resource"]} == watched
    assert statement(policy, "NotifyAlertTopic")["Resource"] == [stack.ref("aws_sns_topic", "arn")]
    assert not [st for st in policy["Statement"] if "*" in st["Resource"]]
    assert not [a for st in policy["Statement"] for a in st["Action"] if a.startswith("s3:")]  # AppSpec is inline


def test_service_role_trusts_codedeploy_for_this_applications_groups_only(stack):
    trust = stack.policy(stack.one("aws_iam_role", name="payment-codedeploy-dev"), "assume_role_policy")
    [st] = trust["Statement"]
    assert st["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:{PARTITION}:codedeploy:us-east-1:{ACCOUNT}:"
                                     "deploymentgroup:payment-release-dev/*"}}


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
