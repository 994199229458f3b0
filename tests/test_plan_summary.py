"""scripts/plan_summary.py over REAL plans: Terraform plans a small config against a local moto server.

Each scenario is one instance of a small module: a DynamoDB table (provisioned capacity: it has an
idle cost), an S3 bucket and a SecureString SSM parameter. The fixture plans four instances from
nothing with a local backend and applies that plan, then plans one edit of each instance (in-place
update, a change of the table's capacity, forced replacement of the table, deletion of the table).
A scenario's plan is that plan's JSON restricted to its instance, with the addresses as the module
itself names them (``aws_dynamodb_table.payments``): what Terraform plans for the module alone, in
a third of the Terraform runs (each run starts the provider up to three times).
The moto server and the Terraform runs happen once per run (a file lock, shared by the xdist workers).
"""

from __future__ import annotations

import copy
from decimal import Decimal
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts import cost, policy_diff
from scripts import plan_summary as ps
from scripts import rehearse, terraform
from tests.conftest import once_per_run
from tests.support import PROJECT_ROOT, clean_env

TABLE = "aws_dynamodb_table.payments"
BUCKET = "aws_s3_bucket.receipts"
PARAMETER = "aws_ssm_parameter.api_secret"
SECRET_BEFORE, SECRET_AFTER = "s3cr3t-before-7f1c", "s3cr3t-after-92ab"
SCENARIOS = ("create", "update", "capacity", "replace", "delete")
EDITS = SCENARIOS[1:]  # one module instance each; "create" plans the first of them from nothing
BASE_CAPACITY, SCALED_CAPACITY = (5, 5), (50, 20)  # (read, write) capacity units


def scenario_module(table: bool) -> dict[str, Any]:
    """The module every scenario instantiates (Terraform JSON): bucket + secure parameter, and the
    table unless ``table`` is false (the deleted table's edit: the same module without it)."""
    resources: dict[str, Any] = {
        "aws_s3_bucket": {"receipts": {"bucket": "plan-summary-receipts-${var.name}", "force_destroy": True}},
        "aws_ssm_parameter": {"api_secret": {"name": "/plan-summary/${var.name}/api-secret",
                                             "type": "SecureString", "value": "${var.secret}"}},
    }
    if table:
        resources["aws_dynamodb_table"] = {"payments": {
            "name": "plan-summary-payments-${var.name}", "billing_mode": "PROVISIONED",
            "hash_key": "${var.hash_key}", "read_capacity": "${var.read}", "write_capacity": "${var.write}",
            "attribute": [{"name": "${var.hash_key}", "type": "S"}], "tags": {"Team": "${var.team}"},
        }}
    variables = {name: {} for name in ("name", "hash_key", "team", "secret", "read", "write")}
    return {"variable": variables, "resource": resources}


def instance(name: str, *, hash_key: str = "id", team: str = "payments", secret: str = SECRET_BEFORE,
             table: bool = True, capacity: tuple[int, int] = BASE_CAPACITY) -> dict[str, Any]:
    return {"source": "./with-table" if table else "./without-table", "name": name, "hash_key": hash_key,
            "team": team, "secret": secret, "read": capacity[0], "write": capacity[1]}


def config(endpoint: str, state: Path, modules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Terraform JSON: provider on moto, local backend, the scenario instances."""
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}},
                      "backend": {"local": {"path": str(state)}}},
        "provider": {"aws": [{
            "region": "us-east-1", "access_key": "test", "secret_key": "test",
            "skip_credentials_validation": True, "skip_metadata_api_check": True,
            "skip_requesting_account_id": False, "s3_use_path_style": True, "max_retries": 3,
            "endpoints": [{s: endpoint for s in ("dynamodb", "s3", "sts", "kms", "ssm")}],
        }]},
        "module": modules,
    }


BASE = {name: instance(name) for name in EDITS}
EDITED = {"update": instance("update", team="risk", secret=SECRET_AFTER),
          "capacity": instance("capacity", capacity=SCALED_CAPACITY),
          "replace": instance("replace", hash_key="payment_id"),
          "delete": instance("delete", table=False)}


def workdir_with_modules(path: Path, cfg: dict[str, Any]) -> Path:
    path.mkdir(parents=True)
    for name, table in (("with-table", True), ("without-table", False)):
        (path / name).mkdir()
        (path / name / "main.tf.json").write_text(json.dumps(scenario_module(table), indent=1))
    (path / "main.tf.json").write_text(json.dumps(cfg, indent=1))
    return path


def plan_json(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """``terraform init``, ``plan -out plan.out`` + ``show -json`` in ``workdir``."""
    terraform.run(workdir, ["init", "-input=false", "-no-color"], env=env)
    terraform.run(workdir, ["plan", "-input=false", "-no-color", "-lock=false", "-out=plan.out"], env=env)
    return json.loads(terraform.run(workdir, ["show", "-json", "plan.out"], env=env).stdout)


def only_module(plan: dict[str, Any], name: str) -> dict[str, Any]:
    """``plan`` restricted to the changes of ``module.<name>``, addressed as inside the module."""
    prefix = f"module.{name}."
    changes = []
    for rc in plan.get("resource_changes", []):
        if rc["address"].startswith(prefix):
            rc = {k: v for k, v in rc.items() if k != "module_address"}
            changes.append(dict(rc, address=rc["address"][len(prefix):]))
    return {"format_version": plan["format_version"], "terraform_version": plan.get("terraform_version"),
            "resource_changes": changes}


def build_plans(outdir: Path) -> None:
    """Plan the four instances from nothing and apply that saved plan; then plan every edit at once
    and keep each scenario's share of the two plans."""
    state = outdir / "terraform.tfstate"
    # The rehearsal's own local endpoint and scrubbed environment (no real AWS profile can leak in).
    with rehearse.MotoServer(outdir / "moto.log", aws_managed_policies=False) as server:
        env = rehearse.endpoint_env(server.url, "us-east-1")
        base = workdir_with_modules(outdir / "base", config(server.url, state, BASE))
        create = plan_json(base, env)
        terraform.run(base, ["apply", "-input=false", "-no-color", "plan.out"], env=env)
        edits = plan_json(workdir_with_modules(outdir / "edit", config(server.url, state, EDITED)), env)
    plans = {"create": only_module(create, "update"), **{name: only_module(edits, name) for name in EDITS}}
    for name, plan in plans.items():
        (outdir / f"{name}.json").write_text(json.dumps(plan))


@pytest.fixture(scope="module")
def plans(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Scenario -> plan JSON; built once per run whichever worker asks first."""
    outdir = once_per_run(run_dir, "plans", build_plans)
    return {name: json.loads((outdir / f"{name}.json").read_text()) for name in SCENARIOS}


def run_cli(plan: dict[str, Any], *args: str, tmp_path: Path) -> tuple[int, str]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    out = io.StringIO()
    return ps.main([str(path), *args], out=out), out.getvalue()


# --- real plans ------------------------------------------------------------------------------------

def test_create_plan_counts_three_creates_and_passes(plans, tmp_path):
    changes = ps.parse_changes(plans["create"])
    assert ps.totals(changes) == {"create": 3}
    assert {t: dict(c) for t, c in ps.counts_by_type(changes).items()} == {
        "aws_dynamodb_table": {"create": 1}, "aws_s3_bucket": {"create": 1}, "aws_ssm_parameter": {"create": 1}}
    code, text = run_cli(plans["create"], tmp_path=tmp_path)
    assert code == 0 and "3 to create, 0 to update, 0 to replace, 0 to delete" in text


def test_update_plan_lists_attribute_names_never_sensitive_values(plans, tmp_path):
    changes = {c.address: c for c in ps.parse_changes(plans["update"])}
    assert {a: c.action for a, c in changes.items()} == {TABLE: "update", PARAMETER: "update"}
    assert "tags" in changes[TABLE].attributes
    assert "value" in changes[PARAMETER].attributes and "value" in changes[PARAMETER].sensitive
    code, text = run_cli(plans["update"], tmp_path=tmp_path)
    _, markdown = run_cli(plans["update"], "--markdown", tmp_path=tmp_path)
    assert code == 0
    assert "value (sensitive)" in text and "tags" in text
    for output in (text, markdown):
        assert SECRET_BEFORE not in output and SECRET_AFTER not in output
        assert "risk" not in output  # not even non-sensitive values: names only


def test_replace_plan_of_the_table_is_blocked(plans, tmp_path):
    changes = ps.parse_changes(plans["replace"])
    table = next(c for c in changes if c.address == TABLE)
    assert table.action == "replace" and "hash_key" in table.replace_paths
    assert ps.blocked_changes(changes) == [table]
    code, text = run_cli(plans["replace"], tmp_path=tmp_path)
    assert code == ps.EXIT_BLOCKED
    assert "BLOCKED" in text and TABLE in text and "forces replacement: hash_key" in text


def test_replace_plan_passes_when_the_table_is_allowed(plans, tmp_path):
    code, text = run_cli(plans["replace"], "--allow-destroy", TABLE, tmp_path=tmp_path)
    assert code == 0 and "Allowed deliberately: " + TABLE in text


def test_delete_plan_of_the_table_is_blocked_then_allowed(plans, tmp_path):
    changes = ps.parse_changes(plans["delete"])
    assert [(c.address, c.action) for c in changes] == [(TABLE, "delete")]
    assert run_cli(plans["delete"], tmp_path=tmp_path)[0] == ps.EXIT_BLOCKED
    assert run_cli(plans["delete"], "--allow-destroy", TABLE, tmp_path=tmp_path)[0] == 0


def test_allowing_another_address_does_not_unblock_and_is_reported(plans, tmp_path):
    code, text = run_cli(plans["delete"], "--allow-destroy", BUCKET, tmp_path=tmp_path)
    assert code == ps.EXIT_BLOCKED
    assert f"--allow-destroy {BUCKET} matches nothing" in text


def test_markdown_has_a_table_for_the_job_summary(plans, tmp_path):
    code, text = run_cli(plans["replace"], "--markdown", tmp_path=tmp_path)
    assert code == ps.EXIT_BLOCKED
    assert "| resource type | create | update | replace | delete |" in text
    assert "| `aws_dynamodb_table` |  |  | 1 |  |" in text and "**BLOCKED**" in text


def test_cli_reads_stdin(plans):
    proc = subprocess.run([sys.executable, "-m", "scripts.plan_summary", "-"], cwd=PROJECT_ROOT,
                          input=json.dumps(plans["delete"]), capture_output=True, text=True,
                          env=clean_env())
    assert proc.returncode == ps.EXIT_BLOCKED and TABLE in proc.stdout


# --- idle-cost delta on real plans ---------------------------------------------------------------

def _monthly(read: int, write: int) -> Decimal:
    """The table's idle cost straight from the price table: provisioned RCU and WCU for 730 hours."""
    p = cost.load_prices()
    return read * p.monthly("dynamodb_provisioned_rcu_hour") + write * p.monthly("dynamodb_provisioned_wcu_hour")


def _deltas(plan):
    deltas, before, after, unpriced = ps.cost_deltas(plan, cost.load_prices())
    return {(d.what, d.before, d.after) for d in deltas}, before, after, unpriced


def test_create_plan_adds_the_tables_provisioned_capacity_to_the_idle_cost(plans, tmp_path):
    deltas, before, after, unpriced = _deltas(plans["create"])
    p = cost.load_prices()
    read, write = BASE_CAPACITY
    assert deltas == {("provisioned RCU", 0, read * p.monthly("dynamodb_provisioned_rcu_hour")),
                      ("provisioned WCU", 0, write * p.monthly("dynamodb_provisioned_wcu_hour"))}
    assert (before, after, unpriced) == (0, _monthly(*BASE_CAPACITY), [])
    _, text = run_cli(plans["create"], tmp_path=tmp_path)
    assert f"$0.00/month → {cost.usd(_monthly(*BASE_CAPACITY))}/month" in text
    assert f"+{cost.usd(write * p.monthly('dynamodb_provisioned_wcu_hour'))}/month: aws_dynamodb_table provisioned WCU" in text


def test_capacity_change_shows_before_and_after_per_line(plans, tmp_path):
    deltas, before, after, _ = _deltas(plans["capacity"])
    assert (before, after) == (_monthly(*BASE_CAPACITY), _monthly(*SCALED_CAPACITY))
    p = cost.load_prices()
    rcu = p.monthly("dynamodb_provisioned_rcu_hour")
    assert ("provisioned RCU", BASE_CAPACITY[0] * rcu, SCALED_CAPACITY[0] * rcu) in deltas
    code, text = run_cli(plans["capacity"], tmp_path=tmp_path)
    increase = cost.usd((SCALED_CAPACITY[0] - BASE_CAPACITY[0]) * rcu, sign=True)
    assert code == 0
    assert f"{increase}/month: aws_dynamodb_table provisioned RCU ({cost.usd(BASE_CAPACITY[0] * rcu)} → " in text


def test_delete_plan_removes_the_tables_idle_cost(plans, tmp_path):
    deltas, before, after, _ = _deltas(plans["delete"])
    assert (before, after) == (_monthly(*BASE_CAPACITY), 0)
    assert {d[2] for d in deltas} == {0}
    _, markdown = run_cli(plans["delete"], "--markdown", tmp_path=tmp_path)
    assert f"({cost.usd(-_monthly(*BASE_CAPACITY), sign=True)}/month;" in markdown
    assert "- -$" in markdown and "**Idle cost**" in markdown


def test_tag_update_changes_no_idle_cost(plans):
    deltas, before, after, _ = _deltas(plans["update"])
    assert deltas == set() and before == after == _monthly(*BASE_CAPACITY)


def test_an_unknown_resource_type_in_a_plan_is_reported_unpriced(plans):
    plan = copy.deepcopy(plans["create"])
    rc = next(r for r in plan["resource_changes"] if r["type"] == "aws_s3_bucket")
    plan["resource_changes"].append(dict(rc, type="aws_mq_broker", address="aws_mq_broker.queue"))
    _, _, _, unpriced = ps.cost_deltas(plan, cost.load_prices())
    assert [(u.type, u.what) for u in unpriced] == [("aws_mq_broker", "not in the price table")]
    assert "Unpriced (may cost money at idle, not counted): aws_mq_broker" in "\n".join(
        ps.render_cost(plan, cost.load_prices()))


def test_aurora_instance_is_priced_from_the_cluster_its_configuration_references():
    """On a create the instance's cluster_identifier is unknown: the plan's configuration says which
    cluster (two here, so no single-cluster fallback), and that cluster's minimum ACU prices it."""
    def cluster(name, minimum):
        return {"address": f"aws_rds_cluster.{name}", "type": "aws_rds_cluster", "change": {
            "actions": ["create"], "before": None,
            "after": {"serverlessv2_scaling_configuration": [{"min_capacity": minimum, "max_capacity": 4}]}}}
    plan = {"format_version": "1.2", "resource_changes": [
        cluster("paused", 0), cluster("busy", 0.5),
        {"address": "aws_rds_cluster_instance.writer", "type": "aws_rds_cluster_instance", "change": {
            "actions": ["create"], "before": None, "after": {"instance_class": "db.serverless"}}}],
        "configuration": {"root_module": {"resources": [{
            "address": "aws_rds_cluster_instance.writer",
            "expressions": {"cluster_identifier": {"references": ["aws_rds_cluster.busy.id", "aws_rds_cluster.busy"]},
                            "timeouts": [{}]}}]}}}
    deltas, before, after, _ = ps.cost_deltas(plan, cost.load_prices())
    assert [(d.type, d.what, d.delta) for d in deltas] == [
        ("aws_rds_cluster_instance", "Serverless v2 at its minimum 0.5 ACU", Decimal("43.80"))]
    assert "+$43.80/month: aws_rds_cluster_instance Serverless v2 at its minimum 0.5 ACU ($0.00 → $43.80)" in \
        "\n".join(ps.render_cost(plan, cost.load_prices()))


# --- pure functions ----------------------------------------------------------------------------------

def test_action_words():
    assert ps.action_of(["delete", "create"]) == ps.action_of(["create", "delete"]) == "replace"
    assert ps.action_of(["update"]) == "update" and ps.action_of(["forget"]) == "forget"


def test_every_required_stateful_type_is_gated():
    assert {"aws_rds_cluster", "aws_rds_cluster_instance", "aws_dynamodb_table", "aws_s3_bucket",
            "aws_kms_key", "aws_secretsmanager_secret"} <= ps.STATEFUL_TYPES
    # The DR region's copies (issue 21): the replicas, the key that reads them, the recovery points.
    assert {"aws_rds_global_cluster", "aws_dynamodb_table_replica", "aws_kms_replica_key",
            "aws_backup_vault"} <= ps.STATEFUL_TYPES


def test_non_stateful_deletes_and_deposed_objects_pass(plans):
    plan = copy.deepcopy(plans["delete"])
    rc = plan["resource_changes"][0]
    plan["resource_changes"] = [dict(rc, type="aws_ssm_parameter", address="aws_ssm_parameter.x"),
                                dict(rc, deposed="00000001")]
    assert ps.blocked_changes(ps.parse_changes(plan)) == []


def test_not_a_plan_exits_2(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"resources": []}')
    assert ps.main([str(path)], out=io.StringIO()) == ps.EXIT_INVALID
    path.write_text("not json")
    assert ps.main([str(path)], out=io.StringIO()) == ps.EXIT_INVALID


def test_empty_plan_says_no_changes():
    text = ps.render(ps.parse_changes({"format_version": "1.2", "resource_changes": []}))
    assert text.startswith("No changes.") and "Gate: passed" in text


# --- what holds merchants, and policy values (plan JSON fixtures) -----------------------------------

def _rc(address: str, actions: list[str], before: Any = None, after: Any = None, **change: Any) -> dict[str, Any]:
    rtype = address.split(".")[0]
    return {"address": address, "type": rtype, "mode": "managed", "name": address.split(".")[1],
            "change": {"actions": actions, "before": before, "after": after, **change}}


def _plan(*resource_changes: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": "1.2", "resource_changes": list(resource_changes)}


# Addresses as the payment stack synthesizes them.
MERCHANT_HOLDERS = {
    "aws_cognito_user_pool.identity_pool_1A2B3C4D": {"name": "payment-merchants-prod"},
    "aws_cognito_resource_server.identity_payments_5E6F7A8B": {"identifier": "payments"},
    "aws_cognito_user_pool_domain.identity_domain_9C0D1E2F": {"domain": "payments-prod-0123456789"},
    "aws_api_gateway_rest_api.api_rest_3A4B5C6D": {"name": "payment-api-prod"},
    "aws_api_gateway_stage.api_stage_7E8F9A0B": {"stage_name": "prod"},
    "aws_api_gateway_domain_name.api_domain_1C2D3E4F": {"domain_name": "api.payments.example.com"},
}
REGISTRY_TABLE = "aws_dynamodb_table.registry_table_CBC8F9E0"


@pytest.mark.parametrize("address", MERCHANT_HOLDERS)
@pytest.mark.parametrize("actions", [["delete", "create"], ["delete"]], ids=["replace", "delete"])
def test_replacing_or_deleting_what_holds_merchants_is_blocked_until_allowed(address, actions, tmp_path):
    attrs = MERCHANT_HOLDERS[address]
    plan = _plan(_rc(address, actions, before=attrs, after=attrs if actions != ["delete"] else None))
    [blocked] = ps.blocked_changes(ps.parse_changes(plan))
    assert blocked.address == address
    code, text = run_cli(plan, tmp_path=tmp_path)
    assert code == ps.EXIT_BLOCKED and f"{address} ({blocked.action}, holds merchants)" in text
    assert run_cli(plan, "--allow-destroy", address, tmp_path=tmp_path)[0] == ps.EXIT_OK


def test_updating_what_holds_merchants_in_place_passes(tmp_path):
    address = "aws_cognito_user_pool.identity_pool_1A2B3C4D"
    plan = _plan(_rc(address, ["update"], before={"mfa_configuration": "OFF"}, after={"mfa_configuration": "ON"}))
    assert run_cli(plan, tmp_path=tmp_path)[0] == ps.EXIT_OK


def test_replacing_the_merchant_registry_table_is_blocked(tmp_path):
    plan = _plan(_rc(REGISTRY_TABLE, ["delete", "create"], before={"hash_key": "client_id"},
                     after={"hash_key": "merchant_id"}, replace_paths=[["hash_key"]]))
    code, text = run_cli(plan, tmp_path=tmp_path)
    assert code == ps.EXIT_BLOCKED and f"{REGISTRY_TABLE} (replace)" in text


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


PLAN_DENY = {"Sid": "DenyDataReads", "Effect": "Deny", "Action": ["dynamodb:GetItem", "dynamodb:Scan"],
             "Resource": ["*"]}
OWN_STATE = {"Sid": "ReadOwnState", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::state/payments/dev/terraform.tfstate"}
POLICY = "aws_iam_role_policy.dev_plan-state_0A1B2C3D"


def test_a_changed_policy_shows_its_digests_and_the_changed_statements(tmp_path):
    widened = dict(OWN_STATE, Resource="arn:aws:s3:::state/*")
    before, after = _doc(PLAN_DENY, OWN_STATE), _doc(widened, {"Sid": "Extra", "Effect": "Allow",
                                                               "Action": "kms:Decrypt", "Resource": "*"})
    plan = _plan(_rc(POLICY, ["update"], before={"name": "state", "policy": before},
                     after={"name": "state", "policy": after}))
    [change] = ps.parse_changes(plan)
    [policy] = change.policies
    assert (policy.before, policy.after) == (policy_diff.digest(before), policy_diff.digest(after))
    assert policy.before != policy.after and policy.before.startswith("sha256:") and len(policy.before) == 19
    assert policy.lines == (
        "- DenyDataReads: Deny dynamodb:GetItem, dynamodb:Scan on *",
        "+ Extra: Allow kms:Decrypt on *",
        "~ ReadOwnState: Resource +arn:aws:s3:::state/* -arn:aws:s3:::state/payments/dev/terraform.tfstate")
    code, text = run_cli(plan, tmp_path=tmp_path)
    assert code == 0 and f"      policy: {policy.before} → {policy.after}" in text
    assert "        - DenyDataReads: Deny dynamodb:GetItem, dynamodb:Scan on *" in text
    _, markdown = run_cli(plan, "--markdown", tmp_path=tmp_path)
    assert "    - `+ Extra: Allow kms:Decrypt on *`" in markdown


def test_a_new_trusted_principal_is_shown_in_the_trust_policy_diff():
    trust = {"Sid": "TrustService", "Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "lambda.amazonaws.com"}}
    widened = dict(trust, Principal={"Service": "lambda.amazonaws.com", "AWS": "arn:aws:iam::999999999999:root"})
    plan = _plan(_rc("aws_iam_role.fn_role_1", ["update"], before={"assume_role_policy": _doc(trust)},
                     after={"assume_role_policy": _doc(widened)}))
    [policy] = ps.parse_changes(plan)[0].policies
    assert policy.attribute == "assume_role_policy"
    assert policy.lines == ('~ TrustService: Principal {"Service":["lambda.amazonaws.com"]} → '
                            '{"AWS":["arn:aws:iam::999999999999:root"],"Service":["lambda.amazonaws.com"]}',)


def test_reordered_statements_have_one_digest_and_say_so():
    deny = dict(PLAN_DENY, Action=list(reversed(PLAN_DENY["Action"])))
    plan = _plan(_rc(POLICY, ["update"], before={"policy": _doc(PLAN_DENY, OWN_STATE)},
                     after={"policy": _doc(OWN_STATE, deny)}))
    [policy] = ps.parse_changes(plan)[0].policies
    assert policy.before == policy.after and policy.lines == ("= same statements (order or formatting only)",)


def test_statements_without_a_sid_are_matched_by_content():
    anonymous = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:1:q"}
    plan = _plan(_rc("aws_sqs_queue_policy.q", ["update"], before={"policy": _doc(anonymous)},
                     after={"policy": _doc(anonymous, dict(anonymous, Resource="*"))}))
    [policy] = ps.parse_changes(plan)[0].policies
    assert policy.lines == ("+ (no Sid): Allow sqs:SendMessage on *",)


def test_a_policy_arn_change_shows_both_arns_and_unknown_values_say_so(tmp_path):
    attachment = _rc("aws_iam_role_policy_attachment.plan_read_only", ["delete", "create"],
                     before={"policy_arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                     after={"policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    pending = _rc("aws_s3_bucket_policy.audit", ["update"], before={"policy": _doc(OWN_STATE)},
                  after={}, after_unknown={"policy": True})
    changes = {c.address: c for c in ps.parse_changes(_plan(attachment, pending))}
    [arn] = changes[attachment["address"]].policies
    assert arn.headline() == ("policy_arn: arn:aws:iam::aws:policy/ReadOnlyAccess → "
                              "arn:aws:iam::aws:policy/AdministratorAccess")
    [unknown] = changes[pending["address"]].policies
    assert unknown.after == "(known after apply)" and unknown.before == policy_diff.digest(_doc(OWN_STATE))


def test_a_sensitive_policy_value_is_never_shown(tmp_path):
    secret = _doc(dict(OWN_STATE, Resource="arn:aws:s3:::do-not-print"))
    plan = _plan(_rc(POLICY, ["update"], before={"policy": _doc(OWN_STATE)}, after={"policy": secret},
                     after_sensitive={"policy": True}))
    [change] = ps.parse_changes(plan)
    assert change.policies == () and change.sensitive == ("policy",)
    _, text = run_cli(plan, tmp_path=tmp_path)
    assert "do-not-print" not in text and "policy (sensitive)" in text


def test_only_policy_attributes_show_values(plans, tmp_path):
    """The real update plan changes tags and a secure value: still names only."""
    assert all(c.policies == () for c in ps.parse_changes(plans["update"]))


def test_the_plan_review_page_lists_every_gated_type():
    """The page operators read is the gate's list, not a copy that drifts from it."""
    page = (PROJECT_ROOT / "docs" / "operators" / "plan-review.md").read_text()
    section = page.split("## What the gate blocks", 1)[1].split("It also blocks", 1)[0]
    assert set(re.findall(r"`(aws_[a-z0-9_]+)`", section)) == set(ps.STATEFUL_TYPES)
