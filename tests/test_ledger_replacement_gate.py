"""Keying the ledger per merchant replaces the transactions table: the plan gate
(scripts/plan_summary.py) must stop that plan unless the operator names the table with
--allow-destroy (docs/maintainers/decisions/ledger-keyed-per-merchant.md).

The plan is the shape ``terraform show -json`` gives for the change (tests/test_plan_summary.py shows
on a real plan that a hash_key change is a replacement with ``replace_paths`` [["hash_key"]]), built
from the synthesized dev stack: the table's real address and its new configuration as ``after``."""

from __future__ import annotations

import copy
import io
import json

from scripts import plan_summary as ps

PREVIOUS_KEYS = {"hash_key": "transaction_id", "range_key": "timestamp",
                 "stream_view_type": "NEW_IMAGE"}


def _replacement_plan(stack) -> tuple[dict, str]:
    [(name, table)] = [(n, t) for n, t in stack.resources("aws_dynamodb_table").items()
                       if t["name"] == "payment-transactions-dev"]
    address = f"aws_dynamodb_table.{name}"
    before = {**copy.deepcopy(table), **PREVIOUS_KEYS}
    plan = {"format_version": "1.2", "resource_changes": [{
        "address": address, "mode": "managed", "type": "aws_dynamodb_table", "name": name,
        "change": {"actions": ["delete", "create"], "before": before, "after": table,
                   "after_unknown": {}, "before_sensitive": {}, "after_sensitive": {},
                   "replace_paths": [["hash_key"], ["range_key"]]},
    }]}
    return plan, address


def _gate(plan: dict, tmp_path, *args: str) -> tuple[int, str]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    out = io.StringIO()
    return ps.main([str(path), *args], out=out), out.getvalue()


def test_replacing_the_ledger_is_blocked_without_an_explicit_allow(stack, tmp_path):
    plan, address = _replacement_plan(stack)
    assert stack.resources("aws_dynamodb_table")[address.split(".")[1]]["hash_key"] == "merchant_transaction"
    code, text = _gate(plan, tmp_path)
    assert code == ps.EXIT_BLOCKED
    assert "BLOCKED" in text and address in text and "hash_key" in text


def test_replacing_the_ledger_passes_only_when_that_table_is_named(stack, tmp_path):
    plan, address = _replacement_plan(stack)
    idempotency = next(f"aws_dynamodb_table.{n}" for n, t in stack.resources("aws_dynamodb_table").items()
                       if t["name"] == "payment-idempotency-dev")
    assert _gate(plan, tmp_path, "--allow-destroy", idempotency)[0] == ps.EXIT_BLOCKED
    code, text = _gate(plan, tmp_path, "--allow-destroy", address)
    assert code == ps.EXIT_OK and "Allowed deliberately: " + address in text
