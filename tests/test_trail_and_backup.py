"""CloudTrail data events for the audit and state buckets, and AWS Backup for Aurora."""

import pytest

from tests.support import statement


def _trail_arn(stack, env_name):
    return (f"arn:${{data.aws_partition.partition.partition}}:cloudtrail:us-east-1:"
            f"${{data.aws_caller_identity.caller.account_id}}:trail/{env_name}")


def test_trail_logs_into_its_own_bucket_encrypted_with_its_own_key(prod_stack):
    trail = prod_stack.one("aws_cloudtrail")
    assert trail["name"] == "payment-audit-trail-prod" and trail["is_multi_region_trail"] is True
    log_bucket = prod_stack.one("aws_s3_bucket", bucket="payment-trail-logs-prod-${data.aws_caller_identity.caller.account_id}")
    assert trail["s3_bucket_name"] == prod_stack.ref("aws_s3_bucket", "bucket", bucket=log_bucket["bucket"])
    assert log_bucket["force_destroy"] is False
    key_ref = trail["kms_key_id"]
    enc = [c for c in prod_stack.resources("aws_s3_bucket_server_side_encryption_configuration").values()
           if c["rule"][0]["apply_server_side_encryption_by_default"]["kms_master_key_id"] == key_ref]
    assert len(enc) == 1  # the log bucket, and only it, defaults to the trail's key


def test_trail_key_lets_cloudtrail_encrypt_only_for_this_trail(prod_stack):
    key = next(k for k in prod_stack.resources("aws_kms_key").values()
               if k["description"] == "CloudTrail log files of payment-audit-trail-prod")
    policy = prod_stack.policy(key)
    arn = _trail_arn(prod_stack, "payment-audit-trail-prod")
    for sid in ("CloudTrailEncryptsLogFiles", "CloudTrailDescribesKey"):
        st = statement(policy, sid)
        assert st["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert st["Condition"]["StringEquals"] == {"aws:SourceArn": arn}
    assert statement(policy, "CloudTrailEncryptsLogFiles")["Action"] == ["kms:GenerateDataKey*"]
    assert key["enable_key_rotation"] is True


def test_only_this_trail_may_write_to_the_log_bucket(prod_stack):
    name = "payment-trail-logs-prod-${data.aws_caller_identity.caller.account_id}"
    bucket_id = prod_stack.ref("aws_s3_bucket", "id", bucket=name)
    policy = prod_stack.policy(prod_stack.one("aws_s3_bucket_policy", bucket=bucket_id))
    write = statement(policy, "CloudTrailWritesLogFiles")
    assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"} and write["Action"] == ["s3:PutObject"]
    assert write["Resource"] == [f"arn:${{data.aws_partition.partition.partition}}:s3:::{name}/AWSLogs/"
                                 "${data.aws_caller_identity.caller.account_id}/*"]
    assert write["Condition"]["StringEquals"]["aws:SourceArn"] == _trail_arn(prod_stack, "payment-audit-trail-prod")
    assert statement(policy, "DenyInsecureTransport")["Effect"] == "Deny"
    # The trail is created after the policy it needs.
    assert prod_stack.one("aws_cloudtrail")["depends_on"] == [
        f"aws_s3_bucket_policy.{next(n for n, p in prod_stack.resources('aws_s3_bucket_policy').items() if p['bucket'] == bucket_id)}"]


def test_state_stack_has_its_own_trail_of_the_state_bucket(state_stack):
    trail = state_stack.one("aws_cloudtrail")
    assert trail["name"] == "payment-terraform-state-trail"
    assert state_stack.one("aws_s3_bucket", bucket="payment-state-trail-logs-${data.aws_caller_identity.caller.account_id}")["force_destroy"] is False


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
