"""Idle monthly cost of a synthesized stack or of both sides of a Terraform plan.

``python -m scripts.cost CDK_TF_JSON... [--budget USD]``, or ``--environment ENV [--outdir cdktf.out]`` for
every stack of an environment (with ``dr_region``, its standby's too; ``make cost [ENVIRONMENT_SUFFIX=...]``)

Idle means 730 hours a month and zero traffic: only what AWS bills by the hour or month whether
anything happens or not (Aurora at its minimum capacity, 0 when it may auto-pause; NAT gateways and
their public IPv4 addresses; interface endpoints per AZ; the WAF web ACL and its rules; dashboards;
alarms; KMS keys; secrets), plus the standing traffic of a schedule (the synthetic merchant's runs,
which happen with or without merchants). Prices come from ``scripts/prices.json`` (source and date inside). A
resource type that is neither priced nor listed there as free at idle is reported as *unpriced*,
never counted as zero. Request-, GB- and duration-priced usage is outside the figure by definition.

Exit status: 0; 1 when ``--budget`` is given and the total exceeds it; 2 the input cannot be read.
Everything but ``main`` is a pure function. scripts/plan_summary.py uses ``plan_resources``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

PRICES_PATH = Path(__file__).resolve().parent / "prices.json"
REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.")
CENT = Decimal("0.01")
EXIT_OK, EXIT_OVER_BUDGET, EXIT_INVALID = 0, 1, 2


@dataclass(frozen=True)
class PriceTable:
    source: str
    region: str
    as_of: str
    hours: Decimal
    prices: Mapping[str, Decimal]
    free: Mapping[str, str]     # resource type -> why it costs nothing at idle

    def monthly(self, key: str) -> Decimal:
        """The monthly price of one unit of ``key`` (hourly prices times the hours of a month)."""
        price = self.prices[key]
        return price * self.hours if key.endswith("_hour") else price


def load_prices(path: Path = PRICES_PATH) -> PriceTable:
    data = json.loads(path.read_text())
    return PriceTable(
        source=data["source"], region=data["region"], as_of=data["as_of"],
        hours=Decimal(data["hours_per_month"]),
        prices={k: Decimal(v["usd"]) for k, v in data["prices"].items()},
        free=dict(data["free_at_idle"]),
    )


@dataclass(frozen=True)
class Resource:
    """One resource instance: its known attribute values and the resources each attribute references."""

    address: str
    type: str
    values: Mapping[str, Any]
    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    """One line of the bill: ``count`` units of ``what`` of a resource type at ``unit`` a month each.
    ``unit`` is None for an unpriced line (it may cost money; the table cannot say how much)."""

    type: str
    what: str
    count: Decimal
    unit: Decimal | None

    @property
    def key(self) -> tuple[str, str]:
        return self.type, self.what

    @property
    def monthly(self) -> Decimal | None:
        return None if self.unit is None else self.count * self.unit


# --- resources from a synthesized stack or a plan -----------------------------------------------

def _refs(values: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for key, value in values.items():
        addresses = tuple(f"{t}.{n}" for t, n in REFERENCE.findall(json.dumps(value)))
        if addresses:
            found[key] = addresses
    return found


def stack_resources(stack: Mapping[str, Any]) -> list[Resource]:
    """The resource instances of a synthesized ``cdk.tf.json`` (``count`` honoured when a number)."""
    result = []
    for rtype, bodies in sorted((stack.get("resource") or {}).items()):
        for name, body in sorted(bodies.items()):
            values = {k: v for k, v in body.items() if k != "//"}
            count = values.get("count", 1)
            for index in range(count if isinstance(count, int) else 1):
                address = f"{rtype}.{name}" + (f"[{index}]" if "count" in values else "")
                result.append(Resource(address, rtype, values, _refs(values)))
    return result


def _config_refs(plan: Mapping[str, Any]) -> dict[str, dict[str, tuple[str, ...]]]:
    """Resource address (without index) -> attribute -> referenced resource addresses, from the
    plan's ``configuration`` (references survive where the values are still unknown)."""
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for res in ((plan.get("configuration") or {}).get("root_module") or {}).get("resources") or []:
        refs = {}
        for attr, expr in (res.get("expressions") or {}).items():
            if not isinstance(expr, Mapping):  # a nested block: its references are not needed here
                continue
            addresses = tuple(r for r in expr.get("references") or []
                              if r.count(".") == 1 and not r.startswith(("var.", "local.", "data.")))
            if addresses:
                refs[attr] = addresses
        table[res["address"]] = refs
    return table


def plan_resources(plan: Mapping[str, Any], side: str) -> list[Resource]:
    """The managed resource instances that exist ``before`` or ``after`` the plan (``side``)."""
    assert side in ("before", "after")
    refs = _config_refs(plan)
    result = []
    for rc in plan.get("resource_changes") or []:
        if rc.get("mode", "managed") != "managed" or rc.get("deposed"):
            continue
        values = (rc.get("change") or {}).get(side)
        if values is None:
            continue
        base = rc["address"].split("[", 1)[0]
        result.append(Resource(rc["address"], rc["type"], values, refs.get(base, {})))
    return result


# --- pricing rules --------------------------------------------------------------------------------

def _block(values: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A nested block, whether synthesized JSON (an object) or plan JSON (a list of one)."""
    block = values.get(name)
    if isinstance(block, list):
        block = block[0] if block else None
    return block if isinstance(block, Mapping) else {}


def _cluster_of(instance: Resource, resources: Sequence[Resource]) -> Resource | None:
    clusters = [r for r in resources if r.type == "aws_rds_cluster"]
    wanted = instance.values.get("cluster_identifier")
    for cluster in clusters:
        if wanted is not None and wanted in (cluster.values.get("cluster_identifier"), cluster.values.get("id")):
            return cluster
    referenced = set(instance.refs.get("cluster_identifier", ()))
    for cluster in clusters:
        if cluster.address.split("[", 1)[0] in referenced:
            return cluster
    return clusters[0] if len(clusters) == 1 else None


Rule = Callable[[Resource, Sequence[Resource], PriceTable], list[Line]]
ONE = Decimal(1)


def _aurora_instance(r: Resource, resources: Sequence[Resource], p: PriceTable) -> list[Line]:
    if r.values.get("instance_class") != "db.serverless":
        return [Line(r.type, f"provisioned instance {r.values.get('instance_class')}", ONE, None)]
    cluster = _cluster_of(r, resources)
    minimum = _block(cluster.values, "serverlessv2_scaling_configuration").get("min_capacity") if cluster else None
    if minimum is None:
        return [Line(r.type, "Serverless v2 instance (cluster capacity unknown)", ONE, None)]
    minimum = Decimal(str(minimum))
    if minimum == 0:
        return [Line(r.type, "Serverless v2, 0 ACU: paused when idle", ONE, Decimal(0))]
    return [Line(r.type, f"Serverless v2 at its minimum {minimum.normalize()} ACU", ONE,
                 minimum * p.monthly("aurora_serverless_v2_acu_hour"))]


def _aurora_cluster(r: Resource, _: Sequence[Resource], p: PriceTable) -> list[Line]:
    # Storage of an empty cluster and backups within the retention period are not counted.
    if r.values.get("manage_master_user_password"):
        return [Line(r.type, "RDS-managed master user secret", ONE, p.monthly("secrets_manager_secret_month"))]
    return []


def _vpc_endpoint(r: Resource, _: Sequence[Resource], p: PriceTable) -> list[Line]:
    kind = r.values.get("vpc_endpoint_type", "Gateway")
    if kind == "Gateway":
        return []
    service = str(r.values.get("service_name", "?")).rsplit(".", 1)[-1]
    if kind != "Interface":
        return [Line(r.type, f"{kind} endpoint ({service})", ONE, None)]
    azs = len(r.values.get("subnet_ids") or []) or 1
    return [Line(r.type, f"interface endpoint, per AZ ({service})", Decimal(azs),
                 p.monthly("interface_endpoint_az_hour"))]


def _web_acl(r: Resource, _: Sequence[Resource], p: PriceTable) -> list[Line]:
    rules = len(r.values.get("rule") or [])
    lines = [Line(r.type, "web ACL", ONE, p.monthly("waf_web_acl_month"))]
    if rules:
        lines.append(Line(r.type, "rules and rule groups", Decimal(rules), p.monthly("waf_rule_month")))
    return lines


def _metric_alarm(r: Resource, _: Sequence[Resource], p: PriceTable) -> list[Line]:
    queries = [q for q in r.values.get("metric_query") or [] if q.get("metric")]
    # An anomaly detection alarm is billed as three metrics: the metric and the band's two bounds.
    bands = sum("ANOMALY_DETECTION_BAND" in str(q.get("expression") or "") for q in r.values.get("metric_query") or [])
    metrics = Decimal((len(queries) or 1) + 2 * bands)
    period = r.values.get("period") or min((_block(q, "metric").get("period") or 60 for q in queries), default=60)
    if isinstance(period, (int, float)) and period < 60:
        return [Line(r.type, "high-resolution alarm metric", metrics, p.monthly("cloudwatch_alarm_high_resolution_month"))]
    return [Line(r.type, "standard alarm metric", metrics, p.monthly("cloudwatch_alarm_standard_month"))]


def _dynamodb_table(r: Resource, _: Sequence[Resource], p: PriceTable) -> list[Line]:
    if r.values.get("billing_mode", "PROVISIONED") == "PAY_PER_REQUEST":
        return []
    lines = []
    for attr, key, what in (("read_capacity", "dynamodb_provisioned_rcu_hour", "provisioned RCU"),
                            ("write_capacity", "dynamodb_provisioned_wcu_hour", "provisioned WCU")):
        units = r.values.get(attr)
        if units is None:
            lines.append(Line(r.type, f"{what} (unknown)", ONE, None))
        elif units:
            lines.append(Line(r.type, what, Decimal(str(units)), p.monthly(key)))
    return lines


def _provisioned_concurrency(r: Resource, resources: Sequence[Resource], p: PriceTable) -> list[Line]:
    """Provisioned concurrency bills every hour: executions x the function's memory (GB), per
    architecture; unpriced when the function cannot be found."""
    wanted = set(r.refs.get("function_name", ()))
    function = next((f for f in resources if f.type == "aws_lambda_function"
                     and (f.address.split("[", 1)[0] in wanted
                          or f.values.get("function_name") == r.values.get("function_name"))), None)
    executions = r.values.get("provisioned_concurrent_executions")
    if function is None or not isinstance(executions, int):
        return [Line(r.type, "provisioned concurrency (function unknown)", ONE, None)]
    gb = Decimal(function.values.get("memory_size") or 128) / Decimal(1024)
    arch = (function.values.get("architectures") or ["x86_64"])[0]
    key = "lambda_provisioned_concurrency_arm64_gb_hour" if arch == "arm64" else "lambda_provisioned_concurrency_gb_hour"
    return [Line(r.type, f"provisioned concurrency, GB ({arch})", Decimal(executions) * gb, p.monthly(key))]


# A schedule is standing traffic, not idle: the runs of what a scheduled rule starts are billed
# whatever the merchants do. Known schedules (rule name suffix -> price key); any other is unpriced.
SCHEDULES = {"canary": ("synthetic_merchant_month", "synthetic merchant runs (modules/canary.py)")}


def _event_rule(r: Resource, _: Sequence[Resource], p: PriceTable) -> list[Line]:
    if not r.values.get("schedule_expression"):
        return []  # on an event pattern: free, the events it matches are billed with their target
    name = str(r.values.get("name") or "")
    for component, (key, what) in SCHEDULES.items():
        if name.startswith(f"payment-{component}-"):
            return [Line(r.type, what, ONE, p.monthly(key))]
    return [Line(r.type, "scheduled rule: its runs", ONE, None)]


def _fixed(key: str, what: str) -> Rule:
    return lambda r, _, p: [Line(r.type, what, ONE, p.monthly(key))]


def _unless(attribute: str, what: str) -> Rule:
    """Free at idle unless ``attribute`` is set (then it costs by the hour: unpriced)."""
    return lambda r, _, p: [Line(r.type, what, ONE, None)] if r.values.get(attribute) else []


RULES: Mapping[str, Rule] = {
    "aws_rds_cluster_instance": _aurora_instance,
    "aws_rds_cluster": _aurora_cluster,
    "aws_nat_gateway": _fixed("nat_gateway_hour", "NAT gateway"),
    "aws_eip": _fixed("public_ipv4_hour", "public IPv4 address"),
    "aws_vpc_endpoint": _vpc_endpoint,
    "aws_wafv2_web_acl": _web_acl,
    "aws_cloudwatch_dashboard": _fixed("cloudwatch_dashboard_month", "dashboard"),
    "aws_cloudwatch_metric_alarm": _metric_alarm,
    "aws_cloudwatch_event_rule": _event_rule,
    "aws_lambda_provisioned_concurrency_config": _provisioned_concurrency,
    "aws_cloudwatch_composite_alarm": _fixed("cloudwatch_composite_alarm_month", "composite alarm"),
    "aws_kms_key": _fixed("kms_key_month", "customer managed key"),
    "aws_kms_replica_key": _fixed("kms_key_month", "multi-Region replica key"),
    "aws_route53_health_check": _fixed("route53_health_check_aws_month", "health check (CloudWatch alarm)"),
    "aws_secretsmanager_secret": _fixed("secrets_manager_secret_month", "secret"),
    "aws_ssm_parameter": lambda r, _, p: ([Line(r.type, "advanced parameter", ONE, p.monthly("ssm_advanced_parameter_month"))]
                                          if r.values.get("tier") == "Advanced" else []),
    "aws_dynamodb_table": _dynamodb_table,
    "aws_api_gateway_stage": _unless("cache_cluster_enabled", "stage cache cluster"),
    "aws_api_gateway_method_settings": lambda r, _, p: (
        [Line(r.type, "method cache", ONE, None)] if _block(r.values, "settings").get("caching_enabled") else []),
}


def price(resources: Sequence[Resource], prices: PriceTable) -> list[Line]:
    """Every bill line of ``resources``, merged per (type, what, unit); unpriced lines included."""
    merged: dict[tuple[str, str, Decimal | None], Decimal] = defaultdict(Decimal)
    for r in resources:
        rule = RULES.get(r.type)
        if rule is not None:
            lines = rule(r, resources, prices)
        elif r.type in prices.free:
            lines = []
        else:
            lines = [Line(r.type, "not in the price table", ONE, None)]
        for line in lines:
            merged[(line.type, line.what, line.unit)] += line.count
    return sorted((Line(t, w, c, u) for (t, w, u), c in merged.items()),
                  key=lambda ln: (ln.unit is None, ln.type, ln.what))


def total(lines: Iterable[Line]) -> Decimal:
    return sum((ln.monthly for ln in lines if ln.monthly is not None), Decimal(0))


def unpriced(lines: Iterable[Line]) -> list[Line]:
    return [ln for ln in lines if ln.unit is None]


def usd(amount: Decimal, sign: bool = False) -> str:
    text = f"${abs(amount).quantize(CENT, ROUND_HALF_UP):,.2f}"
    return (("+" if amount >= 0 else "-") + text) if sign else text


def _count(c: Decimal) -> str:
    return f"{c.normalize():f}"


def render(lines: Sequence[Line], prices: PriceTable, title: str) -> str:
    priced = [ln for ln in lines if ln.unit is not None]
    width = max([len("resource type"), *(len(ln.type) for ln in lines)])
    what = max([len("what"), *(len(ln.what) for ln in lines)])
    out = [f"Idle monthly cost of {title}: {usd(total(lines))}",
           f"({prices.hours:f} h/month, zero traffic; {prices.region} list prices as of {prices.as_of}, "
           "scripts/prices.json)", "",
           f"{'resource type':<{width}}  {'what':<{what}}  {'count':>5}  {'unit/month':>10}  {'monthly':>9}"]
    out += [f"{ln.type:<{width}}  {ln.what:<{what}}  {_count(ln.count):>5}  {usd(ln.unit):>10}  "
            f"{usd(ln.monthly):>9}" for ln in priced]
    out.append(f"{'total':<{width}}  {'':<{what}}  {'':>5}  {'':>10}  {usd(total(lines)):>9}")
    missing = unpriced(lines)
    out.append("")
    if missing:
        out.append("UNPRICED (may cost money at idle, not in the total; add them to scripts/prices.json):")
        out += [f"  {ln.type}: {ln.what} x{_count(ln.count)}" for ln in missing]
    else:
        out.append("Unpriced: none (every other resource type is listed as free at idle in scripts/prices.json).")
    return "\n".join(out) + "\n"


STACK_OF_ENVIRONMENT = r"^payments-{environment}(-[a-z]{{2}}(-gov)?-[a-z]+-\d)?$"


def environment_stacks(outdir: Path, environment: str) -> list[Path]:
    """The synthesized stacks of one environment in a cdktf output directory (its manifest): the
    environment's own and, with ``dr_region``, its standby's (``payments-<env>-<region>``)."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    pattern = re.compile(STACK_OF_ENVIRONMENT.format(environment=re.escape(environment)))
    return [outdir / stack["synthesizedStackPath"] for name, stack in sorted(manifest["stacks"].items())
            if pattern.match(name)]


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stack_json", type=Path, nargs="*", help="synthesized cdk.tf.json files")
    parser.add_argument("--environment", help="instead: every stack of this environment in --outdir")
    parser.add_argument("--outdir", type=Path, default=Path("cdktf.out"))
    parser.add_argument("--budget", type=Decimal, help="exit 1 when the idle total exceeds this (USD/month)")
    parser.add_argument("--prices", type=Path, default=PRICES_PATH)
    args = parser.parse_args(argv)
    try:
        paths = environment_stacks(args.outdir, args.environment) if args.environment else args.stack_json
        if not paths:
            raise ValueError("no stack to price")
        stacks = [(path.parent.name, json.loads(path.read_text())) for path in paths]
        prices = load_prices(args.prices)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INVALID
    every: list[Line] = []
    for name, stack in stacks:
        lines = price(stack_resources(stack), prices)
        every += lines
        out.write(render(lines, prices, name))
    if len(stacks) > 1:
        out.write(f"\nIdle monthly cost of {', '.join(name for name, _ in stacks)}: {usd(total(every))}\n")
    if args.budget is not None and total(every) > args.budget:
        out.write(f"OVER BUDGET: {usd(total(every))} > {usd(args.budget)}\n")
        return EXIT_OVER_BUDGET
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
