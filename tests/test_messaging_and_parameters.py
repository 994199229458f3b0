"""Alert topic, its policy and subscription; SSM parameters and outputs as in the seed."""

import pytest

from tests.support import statement


def test_alert_topic_is_encrypted_with_the_platform_key(stack):
    topic = stack.one("aws_sns_topic", name="payment-alerts-dev")
    assert topic["kms_master_key_id"].startswith("${aws_kms_key.")


def test_alert_email_subscription_comes_from_settings(stack):
    sub = stack.one("aws_sns_topic_subscription", protocol="email")
    assert sub["endpoint"] == "ops@example.com"


def test_topic_policy_lets_this_accounts_alarms_publish(stack):
    st = statement(stack.policy(stack.one("aws_sns_topic_policy")), "CloudWatchAlarmsPublish")
    assert st["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and st["Action"] == ["sns:Publish"]
    assert st["Condition"]["StringEquals"]["aws:SourceAccount"] == "${data.aws_caller_identity.caller.account_id}"
    assert ":cloudwatch:us-east-1:${data.aws_caller_identity.caller.account_id}:alarm:*" in \
        st["Condition"]["ArnLike"]["aws:SourceArn"]
    assert st["Resource"] == [stack.ref("aws_sns_topic", "arn")]


@pytest.mark.parametrize("name", ["vpc-id", "aurora-endpoint", "transaction-table", "audit-bucket", "kms-key-id"])
def test_ssm_parameter_per_seed_name(stack, name):
    param = stack.one("aws_ssm_parameter", name=f"/payment/{name}-dev")
    assert param["type"] == "String" and param["value"].startswith("${")


@pytest.mark.parametrize("output", ["vpc-id", "aurora-endpoint", "transaction-table", "audit-bucket",
                                    "kms-key-id", "alert-topic-arn"])
def test_stack_outputs_as_in_the_seed(stack, output):
    assert stack.json["output"][output]["value"].startswith("${")


def test_no_output_is_a_secret(stack):
    for name, out in stack.json["output"].items():
        assert "secret" not in out["value"].lower() and "password" not in out["value"].lower(), name
