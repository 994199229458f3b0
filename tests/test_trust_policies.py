"""Every role a service assumes says for which account (and, where the service sends it, which of
its resources) it may do so, so no other account can make the service use the role (confused deputy)."""

import pytest

ACCOUNT = "${data.aws_caller_identity.caller.account_id}"
# Services that send no aws:SourceAccount/aws:SourceArn when they assume a role (a condition on either
# would never match and the role could not be used). Kept here on purpose, apart from modules/iam.py:
# adding a service to that list must also be a visible change to this test.
WITHOUT_SOURCE_CONTEXT = {
    "lambda.amazonaws.com",       # function execution roles: no source keys documented
    "apigateway.amazonaws.com",   # the account's CloudWatch logging role: no source keys documented
}
# Services for which AWS documents aws:SourceAccount but no aws:SourceArn on the role assumption.
SOURCE_ACCOUNT_ONLY = {
    "backup.amazonaws.com",       # AWS Backup's service role (modules/backup.py)
}
# Services that send aws:SourceArn, and what it must look like (the resources that may use the role).
SOURCE_ARN_MARKERS = {
    "vpc-flow-logs.amazonaws.com": ":vpc-flow-log/",
    "codedeploy.amazonaws.com": ":deploymentgroup:payment-release-",
    "monitoring.rds.amazonaws.com": ":db:payment-customer-db-",
    # An S3 ARN has no account field: the audit bucket's name ends with the account id.
    "s3.amazonaws.com": ":s3:::payment-audit-logs-",
}


def _service_statements(synthesized):
    for name, role in synthesized.resources("aws_iam_role").items():
        for st in synthesized.policy(role, "assume_role_policy")["Statement"]:
            services = st.get("Principal", {}).get("Service")
            if services:
                for service in [services] if isinstance(services, str) else services:
                    yield name, service, st


@pytest.fixture(params=["dev", "prod"])
def synthesized(request, stack, prod_stack):
    return {"dev": stack, "prod": prod_stack}[request.param]


def test_every_service_trust_policy_is_limited_to_this_account(synthesized):
    checked = 0
    for name, service, st in _service_statements(synthesized):
        if service in WITHOUT_SOURCE_CONTEXT:
            assert "Condition" not in st, f"{name}: {service} sends no source keys; a condition locks it out"
            continue
        assert st.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount") == ACCOUNT, name
        checked += 1
    assert checked >= 3  # flow logs, RDS monitoring, CodeDeploy at least


def test_services_that_send_a_source_arn_are_limited_to_the_platforms_resources(synthesized):
    seen = set()
    for name, service, st in _service_statements(synthesized):
        if service not in WITHOUT_SOURCE_CONTEXT | SOURCE_ACCOUNT_ONLY:
            assert service in SOURCE_ARN_MARKERS, f"{name}: say whether {service} sends aws:SourceArn"
            arns = st["Condition"]["ArnLike"]["aws:SourceArn"]
            for arn in [arns] if isinstance(arns, str) else arns:
                account = arn.endswith(ACCOUNT) if service == "s3.amazonaws.com" else f":{ACCOUNT}:" in arn
                assert account and SOURCE_ARN_MARKERS[service] in arn, (name, arn)
            seen.add(service)
    # S3 assumes a role only where the audit bucket replicates to the DR region (prod).
    replicates = bool(synthesized.resources("aws_s3_bucket_replication_configuration"))
    assert seen == set(SOURCE_ARN_MARKERS) - (set() if replicates else {"s3.amazonaws.com"})


def test_assume_role_policy_refuses_a_service_role_without_source_account():
    from modules.iam import assume_role_policy
    with pytest.raises(ValueError, match="source_account"):
        assume_role_policy("backup.amazonaws.com", source_account=None)
    with pytest.raises(TypeError):
        assume_role_policy("backup.amazonaws.com")  # every caller has to state it
