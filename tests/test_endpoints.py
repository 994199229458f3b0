"""Every AWS API a function's code calls has a route from the function's subnets, in every environment.

The called services are derived from the code, not from a list: the handler module of each synthesized
function and the ``payments_core`` modules it imports (transitively) are parsed, and every
``<x>.client("<service>")`` / ``<x>.resource("<service>")`` call is collected, as is every call of a
client factory (a function that hands its parameter to ``.client(...)``, like ``aws.client``). A route is a gateway
endpoint on the route table of each of the function's subnets, an interface endpoint with private
DNS whose security group admits HTTPS from the function's security group, or a default route through
a NAT gateway on that route table; the function's security group must allow HTTPS out. A function
outside the VPC (``functions_in_vpc`` off: dev and previews) runs on the Lambda service's network and
reaches every AWS API on its public endpoint.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT, Synthesized

LAMBDAS = PROJECT_ROOT / "lambdas"
LAYER = LAMBDAS / "shared" / "python"
PACKAGE = "payments_core"
# boto3 client name -> the endpoint service suffix (com.amazonaws.<region>.<suffix>) where they differ.
ENDPOINT_SERVICE = {"dynamodbstreams": "streams.dynamodb", "rds-data": "rds-data"}
ENVIRONMENTS = ("dev", "staging", "prod")
PUBLIC = "public endpoint (function outside the VPC)"


def _module_path(name: str) -> Path | None:
    """The file of module ``name`` in the layer (a package's ``__init__.py``), or None."""
    base = LAYER / name.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _module_name(path: Path) -> str | None:
    if LAYER not in path.parents:
        return None  # a handler: top-level module, no package
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    """payments_core modules ``path`` imports, absolute or relative, with the packages they run."""
    here = _module_name(path)
    package = (here if path.name == "__init__.py" else here.rpartition(".")[0]) if here else ""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}  # from pkg import module
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    with_packages = {".".join(n.split(".")[:i]) for n in found for i in range(1, n.count(".") + 2)}
    return {n for n in with_packages if n.split(".")[0] == PACKAGE and _module_path(n)}


def code_of(handler_file: Path) -> list[Path]:
    """The handler file and every payments_core module it imports, transitively."""
    files, queue, seen = [handler_file], [handler_file], set()
    while queue:
        for name in _imported_modules(queue.pop()) - seen:
            seen.add(name)
            path = _module_path(name)
            if path not in files:
                files.append(path)
                queue.append(path)
    return files


class _ClientCalls(ast.NodeVisitor):
    """Services of ``.client("x")``/``.resource("x")`` calls and of calls to client factories (functions
    that pass their own parameter to ``.client(...)``, such as ``aws.client`` or a factory for
    assumed-role clients); a non-literal service outside a factory is recorded as unresolved."""

    def __init__(self, path: Path, factories: set[str]):
        self.path, self.factories = path, factories
        self.services: set[str] = set()
        self.unresolved: list[str] = []
        self._params: list[set[str]] = [set()]

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._params.append({a.arg for a in (*node.args.args, *node.args.kwonlyargs)})
        self.generic_visit(node)
        self._params.pop()

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if (isinstance(func, ast.Attribute) and name in ("client", "resource")) or name in self.factories:
            arg = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg in ("service_name", "service")), None)
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self.services.add(arg.value)
            elif not (isinstance(arg, ast.Name) and arg.id in self._params[-1]):
                self.unresolved.append(f"{self.path.relative_to(PROJECT_ROOT)}:{node.lineno}")
        self.generic_visit(node)


def client_factories(files: list[Path]) -> set[str]:
    """Names of functions that create a client for the service named by one of their parameters."""
    found = set()
    for path in files:
        for fn in ast.walk(ast.parse(path.read_text())):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = {a.arg for a in (*fn.args.args, *fn.args.kwonlyargs)}
            if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "client"
                   and c.args and isinstance(c.args[0], ast.Name) and c.args[0].id in params
                   for c in ast.walk(fn)):
                found.add(fn.name)
    return found


def called_services(files: list[Path]) -> tuple[set[str], list[str]]:
    """(services the code creates clients for, client calls whose service is not a literal)."""
    factories = client_factories(sorted({*files, *LAYER.rglob("*.py")}))
    services, unresolved = set(), []
    for path in files:
        visitor = _ClientCalls(path, factories)
        visitor.visit(ast.parse(path.read_text()))
        services |= visitor.services
        unresolved += visitor.unresolved
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
    if "vpc_config" not in function:
        return [PUBLIC]
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
def stacks(synth_all: Path, dev_in_vpc: Synthesized) -> dict[str, Synthesized]:
    found = {env: Synthesized(synth_all / env / "stacks" / f"payments-{env}" / "cdk.tf.json") for env in ENVIRONMENTS}
    return {**found, "dev-in-vpc": dev_in_vpc}


def test_the_code_scan_finds_the_apis_the_functions_are_known_to_call(stack):
    """The derivation can fail: it sees the table reads, the audit objects and the card MAC."""
    functions = {f["function_name"]: f for f in stack.resources("aws_lambda_function").values()}
    calls = {name: called_services(code_of(handler_file(f)))[0] for name, f in functions.items()}
    assert {"dynamodb", "kms"} <= calls["payment-process-dev"]
    assert "s3" in calls["payment-audit-writer-dev"]
    # The merchant registry read (payments_core.registry through payments_core.aws, whose client reset
    # also clears the sts sessions, hence sts); the payment itself is validated in memory.
    assert calls["payment-validate-dev"] == {"dynamodb", "sts"}


def test_every_client_names_its_service_literally():
    """A service chosen at run time would escape the route check below."""
    files = sorted({*LAMBDAS.glob("*/*.py"), *LAYER.rglob("*.py")})
    assert called_services(files)[1] == []


@pytest.mark.parametrize("environment", [*ENVIRONMENTS, "dev-in-vpc"])
def test_every_aws_api_a_function_calls_has_a_route(stacks, environment):
    stack = stacks[environment]
    functions = stack.resources("aws_lambda_function").values()
    assert len(functions) == 5  # the four payment functions and the canary
    missing = []
    for function in functions:
        services, _ = called_services(code_of(handler_file(function)))
        missing += [f"{function['function_name']} -> {svc}" for svc in sorted(services)
                    if not routes(stack, function, svc)]
    assert missing == [], f"{environment}: no endpoint or NAT route for {missing}"


def test_dev_functions_run_outside_the_vpc_so_dev_pays_for_no_interface_endpoint(stack):
    for function in stack.resources("aws_lambda_function").values():
        assert "vpc_config" not in function
        assert routes(stack, function, "kms") == [PUBLIC]
    assert [e["service_name"] for e in stack.resources("aws_vpc_endpoint").values()
            if e["vpc_endpoint_type"] == "Interface"] == []
    assert not stack.resources("aws_nat_gateway")


def test_dev_in_the_vpc_reaches_kms_and_sts_through_interface_endpoints_not_a_nat(dev_in_vpc):
    process = dev_in_vpc.one("aws_lambda_function", function_name="payment-process-dev")
    assert routes(dev_in_vpc, process, "kms") == ["interface endpoint in 1 AZ(s)"]
    assert routes(dev_in_vpc, process, "dynamodb") == ["gateway endpoint"]
    assert routes(dev_in_vpc, process, "sts") == ["interface endpoint in 1 AZ(s)"]  # merchant-scoped credentials


def test_prod_has_a_nat_route_and_interface_endpoints_in_every_az(prod_stack):
    process = prod_stack.one("aws_lambda_function", function_name="payment-process-prod")
    assert routes(prod_stack, process, "kms") == ["interface endpoint in 3 AZ(s)", "NAT gateway"]


def test_a_service_without_endpoint_or_nat_has_no_route(dev_in_vpc):
    """The route check itself can fail: with no NAT, an API without an endpoint is unreachable."""
    process = dev_in_vpc.one("aws_lambda_function", function_name="payment-process-dev")
    assert routes(dev_in_vpc, process, "secretsmanager") == []


def test_interface_endpoints_admit_https_from_the_lambda_security_group_only(dev_in_vpc):
    stack = dev_in_vpc
    sg = stack.ref("aws_security_group", "id", name="payment-endpoints-dev")
    rules = [r for r in stack.resources("aws_vpc_security_group_ingress_rule").values()
             if r["security_group_id"] == sg]
    assert [(r["from_port"], r["to_port"], r["referenced_security_group_id"]) for r in rules] == [
        (443, 443, stack.ref("aws_security_group", "id", name="payment-lambda-dev"))]
    assert not [r for r in stack.resources("aws_vpc_security_group_egress_rule").values()
                if r["security_group_id"] == sg]
    for endpoint in (e for e in stack.resources("aws_vpc_endpoint").values() if e["vpc_endpoint_type"] == "Interface"):
        assert endpoint["private_dns_enabled"] is True and endpoint["security_group_ids"] == [sg]


def test_interface_endpoints_sit_in_the_functions_private_subnets(dev_in_vpc, staging_stack, prod_stack):
    for s, azs in ((dev_in_vpc, 1), (staging_stack, 1), (prod_stack, 3)):
        private = {f"${{aws_subnet.{n}.id}}" for n, sub in s.resources("aws_subnet").items()
                   if sub["tags"]["Tier"] == "private"}
        interface = [e for e in s.resources("aws_vpc_endpoint").values() if e["vpc_endpoint_type"] == "Interface"]
        assert len(interface) == 2  # kms, sts
        for endpoint in interface:
            assert len(endpoint["subnet_ids"]) == azs and set(endpoint["subnet_ids"]) <= private
