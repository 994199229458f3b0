"""Lambda wiring: runtime, VPC, tracing, logs, aliases, least-privilege roles, packaging."""

import json
import zipfile
from pathlib import Path

import pytest

from tests.support import statement

FUNCTIONS = ("validate", "fraud-check", "process", "audit-writer")


def _function(stack, key):
    return stack.one("aws_lambda_function", function_name=f"payment-{key}-dev")


def _role_policy(stack, key, environment="dev"):
    return stack.policy(stack.one("aws_iam_role_policy", name=f"payment-{key}-{environment}-least-privilege"))


def _allowed_actions(policy):
    return {a for st in policy["Statement"] for a in st["Action"]}


@pytest.mark.parametrize("key", FUNCTIONS)
def test_function_runs_python_312_in_private_subnets_with_lambda_sg_in_staging(staging_stack, key):
    stack = staging_stack
    fn = stack.one("aws_lambda_function", function_name=f"payment-{key}-staging")
    assert fn["runtime"] == "python3.12"
    private = {f"${{aws_subnet.{n}.id}}" for n, s in stack.resources("aws_subnet").items()
               if s["tags"]["Tier"] == "private"}
    assert set(fn["vpc_config"]["subnet_ids"]) == private
    assert fn["vpc_config"]["security_group_ids"] == [
        stack.ref("aws_security_group", "id", name="payment-lambda-staging")]


@pytest.mark.parametrize("key", FUNCTIONS)
def test_dev_function_runs_outside_the_vpc_without_eni_rights(stack, key):
    """functions_in_vpc is off in dev and previews (docs/maintainers/cost.md): no subnets, no ENI actions."""
    fn = _function(stack, key)
    assert fn["runtime"] == "python3.12" and "vpc_config" not in fn
    assert not {a for a in _allowed_actions(_role_policy(stack, key)) if a.startswith("ec2:")}


@pytest.mark.parametrize("key", FUNCTIONS)
def test_function_traces_publishes_and_reserves_concurrency(stack, key):
    fn = _function(stack, key)
    assert fn["tracing_config"] == {"mode": "Active"}
    assert fn["publish"] is True and fn["reserved_concurrent_executions"] == 10


@pytest.mark.parametrize("key", FUNCTIONS)
def test_function_has_explicit_encrypted_log_group(stack, key):
    group = stack.one("aws_cloudwatch_log_group", name=f"/aws/lambda/payment-{key}-dev")
    assert group["retention_in_days"] == 7 and group["kms_key_id"].startswith("${aws_kms_key.")


@pytest.mark.parametrize("key", FUNCTIONS)
def test_function_role_has_no_managed_policy(stack, key):
    # AWSLambdaVPCAccessExecutionRole allowed log writes to every log group and ENI actions anywhere.
    role_ref = stack.ref("aws_iam_role", "name", name=f"payment-{key}-dev")
    assert not [a for a in stack.resources("aws_iam_role_policy_attachment").values() if a["role"] == role_ref]


@pytest.mark.parametrize("key", FUNCTIONS)
def test_function_writes_only_its_own_log_group(stack, key):
    policy = _role_policy(stack, key)
    group = stack.ref("aws_cloudwatch_log_group", "arn", name=f"/aws/lambda/payment-{key}-dev")
    assert statement(policy, "WriteOwnLogs")["Resource"] == [f"{group}:*"]
    assert {a for a in _allowed_actions(policy) if a.startswith("logs:")} == {
        "logs:CreateLogStream", "logs:PutLogEvents"}  # Terraform creates the group


@pytest.mark.parametrize("key", FUNCTIONS)
def test_function_creates_enis_only_in_its_subnets_with_its_security_group(staging_stack, key):
    stack = staging_stack
    ec2 = "arn:${data.aws_partition.partition.partition}:ec2:us-east-1:${data.aws_caller_identity.caller.account_id}"
    private = sorted(f"{ec2}:subnet/${{aws_subnet.{n}.id}}" for n, s in stack.resources("aws_subnet").items()
                     if s["tags"]["Tier"] == "private")
    lambda_sg = stack.ref("aws_security_group", "id", name="payment-lambda-staging")
    policy = _role_policy(stack, key, "staging")
    create = statement(policy, "CreateEnisInOwnSubnets")
    assert create["Action"] == ["ec2:CreateNetworkInterface"]
    assert sorted(create["Resource"]) == sorted([f"{ec2}:network-interface/*", *private,
                                                 f"{ec2}:security-group/{lambda_sg}"])
    manage = statement(policy, "ManageOwnEnis")
    assert manage["Resource"] == [f"{ec2}:network-interface/*"]


@pytest.mark.parametrize("key", FUNCTIONS)
def test_only_xray_and_ec2_describe_use_a_wildcard_resource(stack, key):
    # Neither has resource-level permissions; every other statement names its resources.
    for st in _role_policy(stack, key)["Statement"]:
        if "*" in st["Resource"]:
            assert set(st["Action"]) in ({"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
                                         {"ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"})


def test_validate_needs_nothing_beyond_logs_traces_the_registry_and_in_the_vpc_its_enis(stack, staging_stack):
    outside = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
               "kms:Decrypt", "dynamodb:GetItem"}
    assert _allowed_actions(_role_policy(stack, "validate")) == outside
    assert _allowed_actions(_role_policy(staging_stack, "validate", "staging")) == outside | {
        "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"}


@pytest.mark.parametrize("key", FUNCTIONS)
def test_function_is_created_after_its_role_policy(stack, key):
    # Creating a VPC function makes Lambda call ec2:CreateNetworkInterface as the role.
    policy = stack.ref("aws_iam_role_policy", "id", name=f"payment-{key}-dev-least-privilege")
    assert policy.removesuffix(".id}").removeprefix("${") in _function(stack, key)["depends_on"]


MERCHANT_ROLES = {"fraud-check": "payment-merchant-read-dev", "process": "payment-merchant-write-dev"}
OWN_KEYS = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["$${aws:PrincipalTag/merchant_id}#*"]}}


def _merchant_policy(stack, key):
    return stack.policy(stack.one("aws_iam_role_policy", name=f"{MERCHANT_ROLES[key]}-own-merchant-only"))


def _table_arn(stack, name):
    return stack.ref("aws_dynamodb_table", "arn", name=f"payment-{name}-dev")


@pytest.mark.parametrize("key", FUNCTIONS)
def test_no_function_role_touches_dynamodb_items_itself(stack, key):
    """Merchant data is reached only through a merchant-tagged session (the audit writer reads the
    stream, which carries no merchant key to scope). The one item a function role reads itself is
    its caller's merchant registry entry: GetItem on exactly that table."""
    item_actions = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan",
                    "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem", "dynamodb:PartiQLSelect"}
    policy = _role_policy(stack, key)
    others = {"Statement": [st for st in policy["Statement"] if st["Sid"] != "ReadMerchantRegistry"]}
    assert not item_actions & _allowed_actions(others)
    registry = [st for st in policy["Statement"] if st["Sid"] == "ReadMerchantRegistry"]
    if key == "audit-writer":
        assert registry == []
    else:
        arn = stack.ref("aws_dynamodb_table", "arn", name="payment-merchant-registry-dev")
        assert registry == [{"Sid": "ReadMerchantRegistry", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
                             "Resource": [arn]}]
        assert _function(stack, key)["environment"]["variables"]["MERCHANT_REGISTRY_TABLE"] == \
            stack.ref("aws_dynamodb_table", "name", name="payment-merchant-registry-dev")


@pytest.mark.parametrize("key", ["fraud-check", "process"])
def test_merchant_data_roles_cannot_read_the_registry(stack, key):
    arn = stack.ref("aws_dynamodb_table", "arn", name="payment-merchant-registry-dev")
    assert arn not in json.dumps(_merchant_policy(stack, key))


@pytest.mark.parametrize("key", ["fraud-check", "process"])
def test_function_may_only_assume_its_own_merchant_role(stack, key):
    st = statement(_role_policy(stack, key), "AssumeMerchantDataRole")
    assert st["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    arn = "arn:${data.aws_partition.partition.partition}:iam::${data.aws_caller_identity.caller.account_id}"
    assert st["Resource"] == [f"{arn}:role/{MERCHANT_ROLES[key]}"]
    assert stack.one("aws_iam_role", name=MERCHANT_ROLES[key])  # the ARN names a real role
    env = _function(stack, key)["environment"]["variables"]
    assert env["MERCHANT_DATA_ROLE_ARN"] == st["Resource"][0]


@pytest.mark.parametrize("key", ["fraud-check", "process"])
def test_merchant_role_trusts_only_its_function_and_requires_the_merchant_tag(stack, key):
    trust = stack.policy(stack.one("aws_iam_role", name=MERCHANT_ROLES[key]), "assume_role_policy")
    [st] = trust["Statement"]
    assert st["Effect"] == "Allow"
    assert st["Principal"] == {"AWS": [stack.ref("aws_iam_role", "arn", name=f"payment-{key}-dev")]}
    assert st["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert st["Condition"] == {"StringLike": {"aws:RequestTag/merchant_id": "?*"},
                               "ForAllValues:StringEquals": {"aws:TagKeys": ["merchant_id"]}}
    assert stack.one("aws_iam_role", name=MERCHANT_ROLES[key])["max_session_duration"] == 3600


def test_fraud_check_merchant_role_reads_only_its_merchants_activity(stack):
    policy = _merchant_policy(stack, "fraud-check")
    dynamodb = [st for st in policy["Statement"] if any(a.startswith("dynamodb:") for a in st["Action"])]
    assert dynamodb == [{"Sid": "ReadOwnCustomerActivity", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
                         "Resource": [_table_arn(stack, "customer-activity")], "Condition": OWN_KEYS}]


def test_process_merchant_role_is_scoped_by_leading_keys_on_every_table(stack):
    policy = _merchant_policy(stack, "process")
    for sid, table in (("OwnCustomerActivity", "customer-activity"), ("OwnIdempotencyRecords", "idempotency")):
        st = statement(policy, sid)
        assert st["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem"]
        assert st["Resource"] == [_table_arn(stack, table)] and st["Condition"] == OWN_KEYS
    # The ledger is keyed "<merchant>#<transaction_id>": put only, own merchant only, no read.
    st = statement(policy, "RecordOwnTransactions")
    assert st["Action"] == ["dynamodb:PutItem"] and st["Resource"] == [_table_arn(stack, "transactions")]
    assert st["Condition"] == OWN_KEYS
    actions = _allowed_actions(policy)
    assert not {"dynamodb:Query", "dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:UpdateItem"} & actions
    assert not any(a.startswith("s3:") for a in actions)


def _merchant_data_role_policies(stack):
    """Every inline policy of every role a session can only assume with the merchant tag."""
    tagged = {name for name, role in stack.resources("aws_iam_role").items()
              if "aws:RequestTag/merchant_id" in role["assume_role_policy"]}
    return [stack.policy(p) for p in stack.resources("aws_iam_role_policy").values()
            if any(p["role"] == f"${{aws_iam_role.{name}.id}}" for name in tagged)]


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_no_merchant_data_role_has_a_dynamodb_statement_without_the_leading_keys_condition(
        stack, prod_stack, environment):
    """The issue's "done when": walk the synthesized policy of every merchant-data role."""
    synthesized = stack if environment == "dev" else prod_stack
    policies = _merchant_data_role_policies(synthesized)
    assert len(policies) == 2  # merchant-read and merchant-write
    dynamodb = [st for p in policies for st in p["Statement"]
                if any(a.startswith("dynamodb:") for a in st["Action"])]
    assert dynamodb and all(st["Effect"] == "Allow" for st in dynamodb)
    unscoped = [st.get("Sid") for st in dynamodb if st.get("Condition") != OWN_KEYS]
    assert unscoped == []


@pytest.mark.parametrize("key", ["fraud-check", "process"])
def test_merchant_roles_use_the_table_key_only_through_dynamodb(stack, key):
    st = statement(_merchant_policy(stack, key), "UseTableKey")
    assert st["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}}
    assert all("*" not in r for s in _merchant_policy(stack, key)["Statement"] for r in s["Resource"])


def test_audit_writer_puts_objects_only_under_the_audit_prefix(stack):
    st = statement(_role_policy(stack, "audit-writer"), "WriteAuditObjects")
    assert st["Action"] == ["s3:PutObject"]
    assert st["Resource"] == [stack.ref("aws_s3_bucket", "arn") + "/audit/*"]


def test_audit_writer_consumes_the_table_stream_with_retries_and_a_dlq(stack):
    mapping = stack.one("aws_lambda_event_source_mapping")
    assert mapping["event_source_arn"] == stack.ref("aws_dynamodb_table", "stream_arn",
                                                    name="payment-transactions-dev")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True and mapping["maximum_retry_attempts"] > 0
    assert mapping["destination_config"]["on_failure"]["destination_arn"] == stack.ref("aws_sqs_queue", "arn")
    pattern = json.loads(mapping["filter_criteria"]["filter"][0]["pattern"])
    # Inserts are the trail; a MODIFY or REMOVE of a payment is tamper evidence and must reach it too.
    assert pattern == {"eventName": ["INSERT", "MODIFY", "REMOVE"]}


def test_dead_letter_queue_is_encrypted_with_the_platform_key(stack):
    assert stack.one("aws_sqs_queue")["kms_master_key_id"].startswith("${aws_kms_key.")


@pytest.mark.parametrize("key", FUNCTIONS)
def test_live_alias_points_at_the_published_version(stack, key):
    fn_ref = stack.ref("aws_lambda_function", "function_name", function_name=f"payment-{key}-dev")
    alias = stack.one("aws_lambda_alias", function_name=fn_ref)
    assert alias["name"] == "live" and alias["function_version"].endswith(".version}")


def test_functions_share_the_core_layer(stack):
    layer = stack.ref("aws_lambda_layer_version", "arn")
    assert all(fn["layers"] == [layer] for fn in stack.resources("aws_lambda_function").values())


@pytest.mark.parametrize("key", FUNCTIONS)
def test_source_code_hash_is_the_asset_hash(stack, key):
    fn = _function(stack, key)
    assert fn["source_code_hash"] and "${" not in fn["source_code_hash"]
    assert fn["filename"].startswith("assets/") and fn["filename"].endswith(".zip")


def test_zips_hold_only_shipped_python_files(synth_root):
    zips = list((synth_root / "stacks" / "payments-dev" / "assets").rglob("*.zip"))
    assert len(zips) == 6  # four functions, the canary, the layer
    for path in zips:
        names = zipfile.ZipFile(path).namelist()
        assert names, path
        for name in names:
            assert "__pycache__" not in name and not Path(name).name.startswith(("test_", "."))
            assert name.endswith((".py", ".json", "/")), name


def test_the_canary_zip_holds_its_handler_and_the_merchants_reference_client(synth_root):
    [canary] = [p for p in (synth_root / "stacks" / "payments-dev" / "assets").rglob("*.zip") if "canary" in str(p)]
    client = (Path(__file__).resolve().parents[1] / "docs" / "api" / "client" / "payments_client.py").read_bytes()
    with zipfile.ZipFile(canary) as archive:
        assert sorted(archive.namelist()) == ["canary_handler.py", "payments_client.py"]
        assert archive.read("payments_client.py") == client  # the file merchants copy, byte for byte


def test_layer_zip_has_the_python_package_layout(synth_root):
    [layer] = [p for p in (synth_root / "stacks" / "payments-dev" / "assets").rglob("*.zip")
               if "layer" in str(p)]
    assert "python/payments_core/__init__.py" in zipfile.ZipFile(layer).namelist()


def test_no_environment_variable_holds_a_secret(stack):
    for fn in stack.resources("aws_lambda_function").values():
        for name in fn["environment"]["variables"]:
            assert not any(word in name.upper() for word in ("SECRET", "PASSWORD", "TOKEN"))


def test_process_fingerprints_cards_with_the_kms_hmac_key_only(stack):
    key = stack.one("aws_kms_key", key_usage="GENERATE_VERIFY_MAC")
    assert key["customer_master_key_spec"] == "HMAC_256"
    key_arn = stack.ref("aws_kms_key", "arn", key_usage="GENERATE_VERIFY_MAC")
    assert statement(_role_policy(stack, "process"), "FingerprintCards") == {
        "Sid": "FingerprintCards", "Effect": "Allow", "Action": ["kms:GenerateMac"], "Resource": [key_arn]}
    assert _function(stack, "process")["environment"]["variables"]["CARD_FINGERPRINT_KEY_ID"] == key_arn
    for other in ("validate", "fraud-check", "audit-writer"):
        assert "kms:GenerateMac" not in _allowed_actions(_role_policy(stack, other))


def test_operator_commands_find_the_trail_where_the_stack_puts_it(stack):
    """scripts/reconcile.py and audit_replay.py read the SSM parameters and the writer's prefix."""
    from scripts import audit_trail
    writer = _function(stack, "audit-writer")["environment"]["variables"]
    assert writer["AUDIT_PREFIX"] == audit_trail.AUDIT_PREFIX
    names = {p["name"] for p in stack.resources("aws_ssm_parameter").values()}
    assert {audit_trail.PARAMETER.format(name=n, environment="dev")
            for n in audit_trail.PARAMETERS.values()} <= names
    assert stack.one("aws_sqs_queue")["name"] == "payment-audit-dlq-dev"  # scripts/audit_replay.py --dlq
