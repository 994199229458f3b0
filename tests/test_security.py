"""KMS: one rotating customer-managed key whose policy lets the platform's services use it."""

from tests.support import statement


def _policy(stack):
    return stack.policy(stack.one("aws_kms_key", enable_key_rotation=True))


def test_key_rotates_and_has_an_alias(stack):
    key = stack.one("aws_kms_key", enable_key_rotation=True)
    assert key["description"].startswith("Payment platform data key")
    assert stack.one("aws_kms_alias", name="alias/payment-key-dev")["target_key_id"].endswith(".key_id}")


def test_cloudwatch_alarms_may_publish_to_the_encrypted_topic(stack):
    st = statement(_policy(stack), "CloudWatchAlarmsPublishToEncryptedTopics")
    assert st["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(st["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_cloudwatch_statement_is_scoped_to_this_account_and_region(stack):
    st = statement(_policy(stack), "CloudWatchAlarmsPublishToEncryptedTopics")
    account = "${data.aws_caller_identity.caller.account_id}"
    assert st["Condition"]["StringEquals"]["aws:SourceAccount"] == account
    assert st["Condition"]["ArnLike"]["aws:SourceArn"].startswith("arn:")
    assert f":cloudwatch:us-east-1:{account}:alarm:" in st["Condition"]["ArnLike"]["aws:SourceArn"]


def test_cloudwatch_logs_may_encrypt_only_this_accounts_log_groups(stack):
    st = statement(_policy(stack), "CloudWatchLogsEncryptsLogGroups")
    assert st["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    arn = st["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert ":logs:us-east-1:${data.aws_caller_identity.caller.account_id}:log-group:" in arn


def test_sns_service_statement_is_scoped_to_the_account(stack):
    st = statement(_policy(stack), "SnsUsesKeyForTopics")
    assert st["Condition"]["StringEquals"]["aws:SourceAccount"] == "${data.aws_caller_identity.caller.account_id}"


def test_every_service_statement_has_a_condition(stack):
    for st in _policy(stack)["Statement"]:
        if "Service" in st.get("Principal", {}):
            assert st.get("Condition"), st["Sid"]
