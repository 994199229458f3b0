"""Every AWS API a function's code calls has a route from the function's subnets, in every environment.

The called services are derived from the code, not from a list: the handler module of each synthesized
function and the ``payments_core`` modules it imports (transitively) are parsed, and every
``<x>.client("<service>")`` / ``<x>.resource("<service>")`` call is collected. A route is a gateway
endpoint on the route table of each of the function's subnets, an interface endpoint with private
DNS whose security group admits HTTPS from the function's security group, or a default route through
a NAT gateway on that route table; the function's security group must allow HTTPS out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT, Synthesized

LAMBDAS = PROJECT_ROOT / "lambdas"
LAYER = LAMBDAS / "shared" / "python"
PACKAGE = "payments_core"
# The one place allowed to create a client from a variable service name: the cached-client helper.
CLIENT_FACTORY = LAYER / PACKAGE / "aws.py"
# boto3 client name -> the endpoint service suffix (com.amazonaws.<region>.<suffix>) where they differ.
ENDPOINT_SERVICE = {"dynamodbstreams": "streams.dynamodb", "rds-data": "rds-data"}
ENVIRONMENTS = ("dev", "staging", "prod")


def _module_path(name: str) -> Path | None:
    path = LAYER / (name.replace(".", "/") + ".py")
    return path if path.exists() else None


def _imported_modules(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # from pkg import module
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE}
    return {name for name in found if _module_path(name)}


def code_of(handler_file: Path) -> list[Path]:
    """The handler file and every payments_core module it imports, transitively."""
    files, queue, seen = [handler_file], [handler_file], set()
    while queue:
        tree = ast.parse(queue.pop().read_text())
        for name in _imported_modules(tree) - seen:
            seen.add(name)
            path = _module_path(name)
            files.append(path)
            queue.append(path)
    return files


def called_services(files: list[Path]) -> tuple[set[str], list[str]]:
    """(services passed to .client()/.resource() as literals, calls whose service is not a literal)."""
    services, unresolved = set(), []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("client", "resource")):
                continue
            arg = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == "service_name"), None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                services.add(arg.value)
            elif path != CLIENT_FACTORY:
                unresolved.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    return services, unresolved


def handler_file(function: dict) -> Path:
    module = function["handler"].rsplit(".", 1)[0]
    [path] = LAMBDAS.glob(f"*/{module}.py")
    return path


def _name(ref: str) -> str:
    """``${aws_x.name.id}`` -> ``name``."""
    return ref.strip("${}").split(".")[1]


def routes(stack: Synthesized, function: dict, service: str) -> list[str]:
    """How ``function`` reaches ``service`` from each of its subnets (empty: it cannot)."""
    region_service = f"com.amazonaws.us-east-1.{ENDPOINT_SERVICE.get(service, service)}"
    lambda_sgs = {_name(sg) for sg in function["vpc_config"]["security_group_ids"]}
    subnets = {_name(s) for s in function["vpc_config"]["subnet_ids"]}
    table_of = {_name(a["subnet_id"]): _name(a["route_table_id"])
                for a in stack.resources("aws_route_table_association").values()}
    egress_443 = [r for r in stack.resources("aws_vpc_security_group_egress_rule").values()
                  if _name(r["security_group_id"]) in lambda_sgs and r["from_port"] <= 443 <= r["to_port"]]
    if not egress_443:
        return []
    found = []
    for endpoint in stack.resources("aws_vpc_endpoint").values():
        if endpoint["service_name"] != region_service:
            continue
        if endpoint["vpc_endpoint_type"] == "Gateway":
            tables = {_name(t) for t in endpoint["route_table_ids"]}
            if all(table_of[s] in tables for s in subnets):
                found.append("gateway endpoint")
        elif endpoint.get("private_dns_enabled") and endpoint["subnet_ids"]:
            endpoint_sgs = {_name(sg) for sg in endpoint["security_group_ids"]}
            admitted = [r for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
                        if _name(r["security_group_id"]) in endpoint_sgs
                        and _name(r.get("referenced_security_group_id", "${x.none.id}")) in lambda_sgs
                        and r["from_port"] <= 443 <= r["to_port"]]
            if admitted:
                found.append(f"interface endpoint in {len(endpoint['subnet_ids'])} AZ(s)")
    nat_tables = {_name(r["route_table_id"]) for r in stack.resources("aws_route").values()
                  if r.get("destination_cidr_block") == "0.0.0.0/0" and "nat_gateway_id" in r}
    if subnets and all(table_of[s] in nat_tables for s in subnets):
        found.append("NAT gateway")
    return found


@pytest.fixture(scope="module")
def stacks(synth_all: Path) -> dict[str, Synthesized]:
    return {env: Synthesized(synth_all / env / "stacks" / f"payments-{env}" / "cdk.tf.json") for env in ENVIRONMENTS}


def test_the_code_scan_finds_the_apis_the_functions_are_known_to_call(stack):
    """The derivation can fail: it sees the table reads, the audit objects and the card MAC."""
    functions = {f["function_name"]: f for f in stack.resources("aws_lambda_function").values()}
    calls = {name: called_services(code_of(handler_file(f)))[0] for name, f in functions.items()}
    assert {"dynamodb", "kms"} <= calls["payment-process-dev"]
    assert "s3" in calls["payment-audit-writer-dev"]
    assert calls["payment-validate-dev"] == set()  # validates in memory, calls nothing


def test_every_client_names_its_service_literally():
    """A service chosen at run time would escape the route check below."""
    files = sorted({*LAMBDAS.glob("*/*.py"), *LAYER.rglob("*.py")})
    assert called_services(files)[1] == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_aws_api_a_function_calls_has_a_route(stacks, environment):
    stack = stacks[environment]
    functions = stack.resources("aws_lambda_function").values()
    assert len(functions) == 4
    missing = []
    for function in functions:
        services, _ = called_services(code_of(handler_file(function)))
        missing += [f"{function['function_name']} -> {svc}" for svc in sorted(services)
                    if not routes(stack, function, svc)]
    assert missing == [], f"{environment}: no endpoint or NAT route for {missing}"


def test_dev_reaches_kms_through_its_interface_endpoint_not_a_nat(stack):
    process = stack.one("aws_lambda_function", function_name="payment-process-dev")
    assert routes(stack, process, "kms") == ["interface endpoint in 1 AZ(s)"]
    assert routes(stack, process, "dynamodb") == ["gateway endpoint"]
    assert routes(stack, process, "sts") == ["interface endpoint in 1 AZ(s)"]  # merchant-scoped credentials


def test_prod_has_a_nat_route_and_interface_endpoints_in_every_az(prod_stack):
    process = prod_stack.one("aws_lambda_function", function_name="payment-process-prod")
    assert routes(prod_stack, process, "kms") == ["interface endpoint in 3 AZ(s)", "NAT gateway"]


def test_a_service_without_endpoint_or_nat_has_no_route(stack):
    """The route check itself can fail: dev has no NAT, so an API without an endpoint is unreachable."""
    process = stack.one("aws_lambda_function", function_name="payment-process-dev")
    assert routes(stack, process, "secretsmanager") == []


def test_interface_endpoints_admit_https_from_the_lambda_security_group_only(stack):
    sg = stack.ref("aws_security_group", "id", name="payment-endpoints-dev")
    rules = [r for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
             if r["security_group_id"] == sg]
    assert [(r["from_port"], r["to_port"], r["referenced_security_group_id"]) for r in rules] == [
        (443, 443, stack.ref("aws_security_group", "id", name="payment-lambda-dev"))]
    assert not [r for r in stack.resources("aws_vpc_security_group_egress_rule").values()
                if r["security_group_id"] == sg]
    for endpoint in (e for e in stack.resources("aws_vpc_endpoint").values() if e["vpc_endpoint_type"] == "Interface"):
        assert endpoint["private_dns_enabled"] is True and endpoint["security_group_ids"] == [sg]


def test_interface_endpoints_sit_in_the_functions_private_subnets(stack, prod_stack):
    for s, azs in ((stack, 1), (prod_stack, 3)):
        private = {f"${{aws_subnet.{n}.id}}" for n, sub in s.resources("aws_subnet").items()
                   if sub["tags"]["Tier"] == "private"}
        for endpoint in (e for e in s.resources("aws_vpc_endpoint").values() if e["vpc_endpoint_type"] == "Interface"):
            assert len(endpoint["subnet_ids"]) == azs and set(endpoint["subnet_ids"]) <= private
