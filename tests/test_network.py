"""Network: three tiers over three AZs, NAT by setting, endpoints, flow logs, security groups."""

from tests.support import statement


def _subnets(stack, tier):
    return [s for s in stack.resources("aws_subnet").values() if s["tags"]["Tier"] == tier]


def test_vpc_has_dns_support_and_hostnames(stack):
    vpc = stack.one("aws_vpc")
    assert vpc["enable_dns_support"] and vpc["enable_dns_hostnames"]


def test_three_subnets_per_tier_in_distinct_azs(stack):
    for tier in ("public", "private", "isolated"):
        subnets = _subnets(stack, tier)
        assert len(subnets) == 3
        assert len({s["availability_zone"] for s in subnets}) == 3


def test_subnet_cidrs_do_not_overlap(stack):
    cidrs = [s["cidr_block"] for s in stack.resources("aws_subnet").values()]
    assert len(cidrs) == len(set(cidrs)) == 9


def test_no_subnet_maps_public_ips(stack):
    assert not any(s["map_public_ip_on_launch"] for s in stack.resources("aws_subnet").values())


def test_nat_gateway_count_follows_setting_and_sits_in_public_subnets(stack, prod_stack):
    assert not stack.resources("aws_nat_gateway") and not stack.resources("aws_eip")  # dev: none (idle cost)
    nats = prod_stack.resources("aws_nat_gateway").values()
    assert len(nats) == 3  # prod: one per AZ
    public_ids = {f"${{aws_subnet.{n}.id}}" for n, s in prod_stack.resources("aws_subnet").items()
                  if s["tags"]["Tier"] == "public"}
    assert {n["subnet_id"] for n in nats} == public_ids


def test_private_route_tables_default_route_through_nat(stack, prod_stack):
    assert not [r for r in stack.resources("aws_route").values() if "nat_gateway_id" in r]
    routes = [r for r in prod_stack.resources("aws_route").values() if "nat_gateway_id" in r]
    assert len(routes) == 3 and len({r["nat_gateway_id"] for r in routes}) == 3  # each AZ its own NAT


def test_isolated_subnets_have_no_default_route(stack):
    isolated_rt = stack.ref("aws_route_table", "id", tags={"Name": "payment-isolated-dev"})
    assert not [r for r in stack.resources("aws_route").values() if r["route_table_id"] == isolated_rt]


def test_s3_and_dynamodb_gateway_endpoints_on_the_private_route_tables(stack):
    for svc in ("s3", "dynamodb"):
        ep = stack.one("aws_vpc_endpoint", service_name=f"com.amazonaws.us-east-1.{svc}")
        assert ep["vpc_endpoint_type"] == "Gateway"
        assert len(ep["route_table_ids"]) == 3


def test_flow_logs_capture_all_traffic_to_an_encrypted_log_group(stack):
    flow = stack.one("aws_flow_log")
    assert flow["traffic_type"] == "ALL"
    group = stack.one("aws_cloudwatch_log_group", name="/aws/vpc/flow-logs/payment-vpc-dev")
    assert group["kms_key_id"].startswith("${aws_kms_key.") and group["retention_in_days"] == 7
    assert flow["log_destination"].endswith(".arn}")


def test_flow_log_role_may_only_write_its_log_group(stack):
    policy = stack.policy(stack.one("aws_iam_role_policy", name="write-flow-logs"))
    st = statement(policy, "WriteFlowLogs")
    assert all(r.startswith("${aws_cloudwatch_log_group.") for r in st["Resource"])


def test_nothing_opens_postgres_while_no_function_uses_aurora(stack):
    # The function that first talks to Aurora adds the Lambda egress / Aurora ingress 5432 rules.
    rules = [*stack.resources("aws_vpc_security_group_ingress_rule").values(),
             *stack.resources("aws_vpc_security_group_egress_rule").values()]
    assert not [r for r in rules if 5432 in (r.get("from_port"), r.get("to_port"))]
    aurora_sg = stack.ref("aws_security_group", "id", name="payment-aurora-dev")
    assert not [r for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
                if r["security_group_id"] == aurora_sg]


def test_no_security_group_declares_inline_rules(stack):
    for sg in stack.resources("aws_security_group").values():
        assert "ingress" not in sg and "egress" not in sg


def test_aurora_security_group_has_no_egress(stack):
    aurora_sg = stack.ref("aws_security_group", "id", name="payment-aurora-dev")
    assert not [r for r in stack.resources("aws_vpc_security_group_egress_rule").values()
                if r["security_group_id"] == aurora_sg]


def test_lambda_egress_is_https_only(staging_stack):
    stack = staging_stack
    lambda_sg = stack.ref("aws_security_group", "id", name="payment-lambda-staging")
    ports = sorted(r["from_port"] for r in stack.resources("aws_vpc_security_group_egress_rule").values()
                   if r["security_group_id"] == lambda_sg)
    assert ports == [443]


def _endpoint_policy(stack, svc):
    endpoint = stack.ref("aws_vpc_endpoint", "id", service_name=f"com.amazonaws.us-east-1.{svc}")
    [policy] = [p for p in stack.resources("aws_vpc_endpoint_policy").values() if p["vpc_endpoint_id"] == endpoint]
    return stack.policy(policy)


def test_dynamodb_endpoint_reaches_only_the_platform_tables_and_their_indexes(stack):
    [st] = _endpoint_policy(stack, "dynamodb")["Statement"]
    tables = [stack.ref("aws_dynamodb_table", "arn", name=f"payment-{t}-dev") for t in ("transactions", "idempotency", "customer-activity", "merchant-registry")]
    assert st["Effect"] == "Allow" and "Condition" not in st
    assert sorted(st["Resource"]) == sorted([r for t in tables for r in (t, f"{t}/index/*")])
    assert set(st["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem"}


def test_s3_endpoint_reaches_only_the_audit_objects(stack):
    [st] = _endpoint_policy(stack, "s3")["Statement"]
    assert st["Resource"] == [stack.ref("aws_s3_bucket", "arn") + "/audit/*"]
    assert st["Action"] == ["s3:PutObject"]


# Stream reads are made by the Lambda service's event source mapping, outside the VPC.
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                  "dynamodb:ListStreams"}


def test_endpoint_policies_allow_every_s3_and_dynamodb_action_the_functions_use(stack):
    allowed = {svc: set(_endpoint_policy(stack, svc)["Statement"][0]["Action"]) for svc in ("s3", "dynamodb")}
    # Function roles, and the merchant-tagged sessions the functions reach their tables with.
    used = {a for p in stack.resources("aws_iam_role_policy").values()
            if p["name"].endswith(("-least-privilege", "-own-merchant-only"))
            for st in stack.policy(p)["Statement"] for a in st["Action"]
            if a.split(":")[0] in allowed and a not in STREAM_ACTIONS}
    assert used == allowed["s3"] | allowed["dynamodb"]


def test_flow_log_role_trusts_flow_logs_of_this_account_only(stack):
    trust = stack.policy(stack.one("aws_iam_role", name="payment-vpc-flow-logs-dev"), "assume_role_policy")
    [st] = trust["Statement"]
    account = "${data.aws_caller_identity.caller.account_id}"
    assert st["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    assert st["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:${{data.aws_partition.partition.partition}}:ec2:us-east-1:{account}:vpc-flow-log/*"}
