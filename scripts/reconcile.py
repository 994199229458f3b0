"""Reconcile the ledger with the audit trail for a time window, merchant by merchant.

    make reconcile ENVIRONMENT_SUFFIX=prod [SINCE=2026-12-01] [UNTIL=2026-12-02] [JSON=build/reconcile.json]
    python -m scripts.reconcile [--environment ENV] [--since T] [--until T] [--json FILE] [--endpoint-url URL]

For every payment whose ``timestamp`` is in ``[SINCE, UNTIL)`` (defaults: the 24 hours ending 10
minutes ago, so records still in the stream pipeline are not reported; the writer's lag has its own
alarm) it compares, per merchant:

* counts and amounts per currency (``Decimal``, never float) of the ledger and of the trail;
* ``missing_object``: a ledger row without its audit object;
* ``object_without_row``: an audit object without a ledger row (and no audited REMOVE);
* ``digest_differs``: the row's digest is not what the trail says it is now (the insert document,
  or the newest MODIFY of it): the row was changed and the change did not reach the trail;
* ``bad_ledger_key`` / ``unreadable_object``: a row or object the trail's model cannot read.

A merchant whose payments carry ``synthetic`` (the canary, modules/canary.py) is reconciled like any
other and labelled ``synthetic``: its payments are test cards through the real path, not merchants'
money, and the report's header counts them apart.

Audited changes (MODIFY/REMOVE objects) are listed for information: each one already paged
(``ledger-changes`` alarm). Exit status: 0 no difference, 1 any difference, 2 the command refused
(environment not deployed, bad window). The report goes to stdout; ``--json FILE`` writes the same
as JSON for a job. docs/operators/reconciliation.md is the runbook.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts.audit_trail import (  # noqa: E402
    AWS_ERRORS, AuditedState, Trail, TrailError, Window, add_arguments, audit, connect, parse_time,
    row_digest, row_key)

SETTLE = dt.timedelta(minutes=10)
EXIT_CLEAN, EXIT_DIFFERENCES, EXIT_REFUSED = 0, 1, 2


@dataclass(frozen=True)
class Finding:
    kind: str
    merchant: str
    transaction_id: str
    detail: str = ""


@dataclass
class Totals:
    """count and amount per currency."""

    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    amount: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, currency: Any, amount: Any) -> None:
        self.count[str(currency)] += 1
        self.amount[str(currency)] += Decimal(str(amount))

    def as_json(self) -> dict[str, dict[str, str | int]]:
        return {c: {"count": self.count[c], "amount": audit.audit_amount(self.amount[c], c)}
                for c in sorted(self.count)}


@dataclass
class MerchantReport:
    merchant: str
    ledger: Totals = field(default_factory=Totals)
    trail: Totals = field(default_factory=Totals)
    findings: list[Finding] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)   # audited MODIFY/REMOVE (information)
    synthetic: bool = False   # the canary's payments (ledger rows marked synthetic), not merchants' money

    def totals_findings(self) -> list[Finding]:
        out = []
        for currency in sorted(set(self.ledger.count) | set(self.trail.count)):
            ledger = (self.ledger.count.get(currency, 0), self.ledger.amount.get(currency, Decimal(0)))
            trail = (self.trail.count.get(currency, 0), self.trail.amount.get(currency, Decimal(0)))
            if ledger != trail:
                text = lambda t: f"{t[0]} / {audit.audit_amount(t[1], currency)}"  # noqa: E731
                out.append(Finding("totals_differ", self.merchant, "",
                                   f"{currency}: ledger {text(ledger)}, trail {text(trail)}"))
        return out


def reconcile(trail: Trail, window: Window) -> list[MerchantReport]:
    """Compare the window's ledger rows with the trail, merchant by merchant."""
    reports: dict[str, MerchantReport] = {}

    def report(merchant: str) -> MerchantReport:
        return reports.setdefault(merchant, MerchantReport(merchant))

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for row in trail.ledger_rows(window):
        try:
            key = row_key(row)
        except audit.AuditRecordError as err:
            report("?").findings.append(Finding("bad_ledger_key", "?", str(row.get("transaction_id", "")), str(err)))
            continue
        rows[(key.merchant_id, key.transaction_id)] = row
        report(key.merchant_id).ledger.add(row.get("currency"), row.get("amount", 0))
        if row.get("synthetic") is True:
            report(key.merchant_id).synthetic = True

    states: dict[tuple[str, str], AuditedState] = defaultdict(AuditedState)
    for merchant in sorted(set(trail.merchants()) | {m for m, _ in rows}):
        for key in trail.insert_keys(merchant, window):
            try:
                doc = trail.document(key)
            except (ValueError, KeyError) as err:
                report(merchant).findings.append(Finding("unreadable_object", merchant, key, str(err)))
                continue
            if window.contains(doc.get("timestamp")):
                states[(merchant, str(doc.get("transaction_id")))].insert = doc
        for key in trail.change_keys(merchant, window):
            doc = trail.document(key)
            states[(merchant, str(doc.get("transaction_id")))].changes.append(doc)

    for (merchant, transaction_id), state in sorted(states.items()):
        r = report(merchant)
        if state.insert is None:
            continue  # a change of a payment outside the window
        r.changes += [{"transaction_id": transaction_id, "event": c["event"],
                       "changed_attributes": c.get("changed_attributes", []),
                       "sequence_number": c["audit_source"]["sequence_number"]} for c in state.changes]
        fields, digest = state.current()
        row = rows.get((merchant, transaction_id))
        if fields is not None:
            r.trail.add(fields.get("currency"), fields.get("amount", 0))
        if row is None:
            if not state.removed:
                r.findings.append(Finding("object_without_row", merchant, transaction_id))
            continue
        expected = row_digest(row_key(row), row)
        if digest != expected:
            r.findings.append(Finding("digest_differs", merchant, transaction_id,
                                      f"trail {digest}, ledger {expected}"))

    for (merchant, transaction_id) in sorted(rows):
        if states.get((merchant, transaction_id), AuditedState()).insert is None:
            report(merchant).findings.append(Finding("missing_object", merchant, transaction_id))
    for r in reports.values():
        r.findings += r.totals_findings()
    return [reports[m] for m in sorted(reports)]


def as_json(environment: str, window: Window, reports: Sequence[MerchantReport]) -> dict[str, Any]:
    return {
        "environment": environment, "since": window.since.isoformat(), "until": window.until.isoformat(),
        "clean": not any(r.findings for r in reports),
        "merchants": [{"merchant": r.merchant, "synthetic": r.synthetic,
                       "ledger": r.ledger.as_json(), "trail": r.trail.as_json(),
                       "findings": [asdict(f) for f in r.findings], "audited_changes": r.changes}
                      for r in reports],
    }


def render(environment: str, window: Window, reports: Sequence[MerchantReport]) -> str:
    findings = [f for r in reports for f in r.findings]
    synthetic = sum(r.synthetic for r in reports)
    lines = [f"reconcile {environment} {window.describe()}: {len(reports)} merchant(s)"
             f"{f' ({synthetic} synthetic)' if synthetic else ''}, "
             f"{'CLEAN' if not findings else f'{len(findings)} DIFFERENCE(S)'}"]
    for r in reports:
        lines.append(f"  merchant {r.merchant}{' (synthetic: the canary, test cards)' if r.synthetic else ''}")
        for currency, t in sorted(r.ledger.as_json().items()):
            lines.append(f"    ledger {currency}: {t['count']} payment(s), {t['amount']}")
        for currency, t in sorted(r.trail.as_json().items()):
            lines.append(f"    trail  {currency}: {t['count']} payment(s), {t['amount']}")
        lines += [f"    DIFFERENCE {f.kind} {f.transaction_id} {f.detail}".rstrip() for f in r.findings]
        lines += [f"    audited {c['event']} of {c['transaction_id']} ({', '.join(c['changed_attributes'])})"
                  for c in r.changes]
    if findings:
        lines.append("Next: docs/operators/reconciliation.md (missing_object: make audit-replay; "
                     "digest_differs: an unaudited change, investigate before anything else).")
    return "\n".join(lines)


def default_window(now: dt.datetime) -> Window:
    until = now - SETTLE
    return Window(until - dt.timedelta(hours=24), until)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.reconcile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, until_default="10 minutes ago")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    return parser.parse_args(argv)


def window_from(args: argparse.Namespace, now: dt.datetime) -> Window:
    default = default_window(now)
    until = parse_time(args.until) if args.until else default.until
    since = parse_time(args.since) if args.since else until - dt.timedelta(hours=24)
    return Window(since, until)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        window = window_from(args, dt.datetime.now(dt.timezone.utc))
        trail = connect(args)
        print(f"reconciling {trail.environment}: ledger {trail.table} with s3://{trail.bucket}/{trail.prefix} "
              f"for {window.describe()}")
        reports = reconcile(trail, window)
    except (TrailError, *AWS_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(render(trail.environment, window, reports))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(as_json(trail.environment, window, reports), indent=2) + "\n")
    return EXIT_DIFFERENCES if any(r.findings for r in reports) else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
