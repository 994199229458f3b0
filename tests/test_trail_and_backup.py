"""CloudTrail data events for the audit and state buckets, and AWS Backup for Aurora."""

import pytest

from tests.support import statement


TRAIL = "payment-object-access-trail"
LOG_BUCKET = "payment-trail-logs-${data.aws_caller_identity.caller.account_id}"
TRAIL_ARN = ("arn:${data.aws_partition.partition.partition}:cloudtrail:us-east-1:"
             f"${{data.aws_caller_identity.caller.account_id}}:trail/{TRAIL}")


def test_one_account_trail_lives_in_the_account_stack_not_per_environment(account_stack, state_stack, stack,
                                                                          prod_stack):
    assert account_stack.one("aws_cloudtrail")["name"] == TRAIL
    for other in (state_stack, stack, prod_stack):
        assert not other.resources("aws_cloudtrail")


def test_trail_records_state_objects_and_every_environments_audit_objects(account_stack, state_stack, stack,
                                                                          prod_stack):
    trail = account_stack.one("aws_cloudtrail")
    [selector] = trail["advanced_event_selector"]
    prefixes = next(f["starts_with"] for f in selector["field_selector"] if f["field"] == "resources.ARN")
    # The state bucket as the state stack names it (after the account it is applied in).
    [state_bucket] = state_stack.resources("aws_s3_bucket").values()
    assert prefixes[0] == f"arn:${{data.aws_partition.partition.partition}}:s3:::{state_bucket['bucket']}/"
    audit_prefix = prefixes[1].removeprefix("arn:${data.aws_partition.partition.partition}:s3:::")
    for s in (stack, prod_stack):  # the environments' audit buckets match the trail's prefix
        names = [b["bucket"] for b in s.resources("aws_s3_bucket").values()]  # prod: with its DR replica
        assert names and all(n.startswith(audit_prefix) for n in names) and audit_prefix == "payment-audit-logs-"


def test_trail_logs_into_its_own_bucket_encrypted_with_its_own_key(account_stack):
    trail = account_stack.one("aws_cloudtrail")
    log_bucket = account_stack.one("aws_s3_bucket", bucket=LOG_BUCKET)
    assert trail["s3_bucket_name"] == account_stack.ref("aws_s3_bucket", "bucket", bucket=LOG_BUCKET)
    assert trail["is_multi_region_trail"] is True and log_bucket["force_destroy"] is False
    key_ref = trail["kms_key_id"]
    enc = [c for c in account_stack.resources("aws_s3_bucket_server_side_encryption_configuration").values()
           if c["rule"][0]["apply_server_side_encryption_by_default"]["kms_master_key_id"] == key_ref]
    assert [c["bucket"] for c in enc] == [account_stack.ref("aws_s3_bucket", "id", bucket=LOG_BUCKET)]


def test_trail_key_serves_only_this_trail_and_its_log_group(account_stack):
    key = account_stack.one("aws_kms_key", description=f"CloudTrail log files of {TRAIL}")
    policy = account_stack.policy(key)
    for sid in ("CloudTrailEncryptsLogFiles", "CloudTrailDescribesKey"):
        st = statement(policy, sid)
        assert st["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert st["Condition"]["StringEquals"] == {"aws:SourceArn": TRAIL_ARN}
    assert statement(policy, "CloudTrailEncryptsLogFiles")["Action"] == ["kms:GenerateDataKey*"]
    logs = statement(policy, "CloudWatchLogsEncryptsTrailLogGroup")
    assert logs["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": (
        "arn:${data.aws_partition.partition.partition}:logs:us-east-1:"
        f"${{data.aws_caller_identity.caller.account_id}}:log-group:/aws/cloudtrail/{TRAIL}")}}
    assert key["enable_key_rotation"] is True


def test_only_this_trail_may_write_to_the_log_bucket(account_stack):
    bucket_id = account_stack.ref("aws_s3_bucket", "id", bucket=LOG_BUCKET)
    policy_name, policy = next((n, p) for n, p in account_stack.resources("aws_s3_bucket_policy").items()
                               if p["bucket"] == bucket_id)
    doc = account_stack.policy(policy)
    write = statement(doc, "CloudTrailWritesLogFiles")
    assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"} and write["Action"] == ["s3:PutObject"]
    assert write["Resource"] == [f"arn:${{data.aws_partition.partition.partition}}:s3:::{LOG_BUCKET}/AWSLogs/"
                                 "${data.aws_caller_identity.caller.account_id}/*"]
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == TRAIL_ARN
    assert statement(doc, "DenyInsecureTransport")["Effect"] == "Deny"
    assert f"aws_s3_bucket_policy.{policy_name}" in account_stack.one("aws_cloudtrail")["depends_on"]


def test_trail_streams_to_an_encrypted_log_group_through_a_role_only_it_assumes(account_stack):
    trail = account_stack.one("aws_cloudtrail")
    group = account_stack.one("aws_cloudwatch_log_group", name=f"/aws/cloudtrail/{TRAIL}")
    assert group["kms_key_id"] == trail["kms_key_id"] and group["retention_in_days"] == 365
    assert trail["cloud_watch_logs_group_arn"] == account_stack.ref(
        "aws_cloudwatch_log_group", "arn", name=f"/aws/cloudtrail/{TRAIL}") + ":*"
    role = account_stack.one("aws_iam_role", name=f"{TRAIL}-logs")
    trust = statement(account_stack.policy(role, "assume_role_policy"), "TrustCloudTrail")
    assert trust["Condition"] == {"StringEquals": {
        "aws:SourceArn": TRAIL_ARN, "aws:SourceAccount": "${data.aws_caller_identity.caller.account_id}"}}
    policy = account_stack.policy(account_stack.one("aws_iam_role_policy", name=f"{TRAIL}-logs"))
    assert policy["Statement"][0]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert policy["Statement"][0]["Resource"] == [
        account_stack.ref("aws_cloudwatch_log_group", "arn", name=f"/aws/cloudtrail/{TRAIL}") + ":log-stream:*"]


@pytest.mark.parametrize("env_stack, days, force", [("stack", 7, True), ("prod_stack", 365, False)])
def test_aurora_is_backed_up_daily_into_a_vault_under_the_platform_key(request, env_stack, days, force):
    s = request.getfixturevalue(env_stack)
    vault = s.one("aws_backup_vault")
    env = vault["name"].rsplit("-", 1)[1]
    assert vault["kms_key_arn"] == s.ref("aws_kms_key", "arn", description=f"Payment platform data key ({env})")
    assert vault["force_destroy"] is force
    [rule] = s.one("aws_backup_plan")["rule"]
    assert rule["target_vault_name"] == s.ref("aws_backup_vault", "name")
    assert rule["lifecycle"] == {"delete_after": days}
    assert rule["schedule"] == "cron(0 5 * * ? *)"


def test_backup_selection_is_the_cluster_by_arn_with_a_role_only_backup_of_this_account_assumes(prod_stack):
    selection = prod_stack.one("aws_backup_selection")
    assert selection["resources"] == [prod_stack.ref("aws_rds_cluster", "arn")]
    assert selection["plan_id"] == prod_stack.ref("aws_backup_plan", "id")
    role = prod_stack.one("aws_iam_role", name="payment-backup-prod")
    trust = statement(prod_stack.policy(role, "assume_role_policy"), "TrustBackup")
    assert trust["Principal"] == {"Service": "backup.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "${data.aws_caller_identity.caller.account_id}"}}
    attached = [a["policy_arn"] for a in prod_stack.resources("aws_iam_role_policy_attachment").values()
                if a["role"] == prod_stack.ref("aws_iam_role", "name", name="payment-backup-prod")]
    assert attached == ["arn:${data.aws_partition.partition.partition}:iam::aws:policy/service-role/"
                        "AWSBackupServiceRolePolicyForBackup"]
