"""Rebuild the missing audit objects of a time window (or of the audit DLQ's batches) from the ledger.

    make audit-replay ENVIRONMENT_SUFFIX=prod SINCE=2026-12-01T10:00 [UNTIL=...]
    make audit-replay ENVIRONMENT_SUFFIX=prod DLQ=1 [ACK=1]
    python -m scripts.audit_replay [--environment ENV] (--since T [--until T] | --dlq [--ack]) [--dry-run]

What it does, in order: reads the window's ledger rows (strongly consistent), lists the trail's
objects of those days, and for each row without its insert object writes that object, create-only
(``If-None-Match: *``), the document the writer would have written, marked
``audit_source.replayed_from = "ledger"``. An object that exists is never touched, so a second run
writes nothing (it reports "0 written"). ``--dlq`` turns each message of the audit DLQ (Lambda's
record of a stream batch it gave up on: shard and sequence range, arrival times) into the window of
that batch, +/- 5 minutes; ``--ack`` deletes a message once its window is replayed without error.

What it cannot do: rebuild a MODIFY or REMOVE change object. Those exist only in the stream, for 24
hours; the ledger holds the current row, never the one before. A row whose digest differs from its
object is reported (run ``make reconcile``), never "repaired". docs/operators/reconciliation.md.

Exit status 0 done (or nothing to do), 1 some object could not be written, 2 refused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts.audit_trail import (  # noqa: E402
    AWS_ERRORS, Trail, TrailError, Window, add_arguments, audit, connect, parse_time, row_key)

DLQ_MARGIN = dt.timedelta(minutes=5)
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


@dataclass(frozen=True)
class ReplayResult:
    rows: int = 0
    present: int = 0
    written: int = 0
    failed: int = 0
    skipped: int = 0          # rows whose key the trail's model refuses (reconcile reports them)

    def line(self, window: Window) -> str:
        return (f"replay {window.describe()}: {self.rows} ledger row(s), {self.present} object(s) present, "
                f"{self.written} written, {self.failed} failed, {self.skipped} skipped")


def replay(trail: Trail, window: Window, now: dt.datetime, dry_run: bool = False) -> ReplayResult:
    rows = trail.ledger_rows(window)
    existing: set[str] = set()
    for merchant in sorted({str(r.get(audit.LEDGER_KEY, "")).partition("#")[0] for r in rows}):
        if audit.MERCHANT_ID_RE.fullmatch(merchant):
            existing.update(trail.insert_keys(merchant, window))
    present = written = failed = skipped = 0
    source = {"replayed_from": "ledger", "replayed_at": now.isoformat(), "table": trail.table}
    for row in rows:
        try:
            key = row_key(row)
            object_key = audit.insert_key(trail.prefix, key, row)
        except audit.AuditRecordError as err:
            print(f"  skipped a row: {err}")
            skipped += 1
            continue
        if object_key in existing:
            present += 1
            continue
        if dry_run:
            print(f"  would write s3://{trail.bucket}/{object_key}")
            continue
        try:
            if audit.put_audit_object(trail.s3, trail.bucket, object_key, trail.kms_key_id,
                                      audit.insert_document(key, row, source)):
                written += 1
                print(f"  wrote s3://{trail.bucket}/{object_key}")
            else:
                present += 1  # written meanwhile (the writer, or another replay): create-only
        except Exception as err:  # one object's failure must not stop the others
            failed += 1
            print(f"  FAILED s3://{trail.bucket}/{object_key}: {type(err).__name__}: {err}")
    return ReplayResult(len(rows), present, written, failed, skipped)


def dlq_windows(trail: Trail, queue: str) -> list[tuple[Window, str]]:
    """(window, receipt handle) of each DLQ message: the batch's arrival times +/- DLQ_MARGIN."""
    url = trail.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    found: dict[str, tuple[Window, str]] = {}
    while True:
        messages = trail.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300,
                                             WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        for message in messages:
            info = json.loads(message["Body"]).get("DDBStreamBatchInfo") or {}
            try:
                first = parse_time(info["approximateArrivalOfFirstRecord"])
                last = parse_time(info["approximateArrivalOfLastRecord"])
            except (KeyError, TrailError):
                raise TrailError(f"DLQ message {message['MessageId']} is not a stream batch record") from None
            found[message["MessageId"]] = (Window(first - DLQ_MARGIN, last + DLQ_MARGIN), message["ReceiptHandle"])
    return list(found.values())


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.audit_replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, until_default="now")
    parser.add_argument("--dlq", action="store_true", help="replay the windows of the audit DLQ's messages")
    parser.add_argument("--ack", action="store_true", help="with --dlq: delete each replayed message")
    parser.add_argument("--dry-run", action="store_true", help="list what would be written")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        if args.dlq == bool(args.since):
            raise TrailError("give either --since (a window) or --dlq (the DLQ's batches)")
        trail = connect(args)
        queue = f"payment-audit-dlq-{trail.environment}"   # modules/compute.py: s.name("audit-dlq")
        windows = (dlq_windows(trail, queue) if args.dlq else
                   [(Window(parse_time(args.since), parse_time(args.until) if args.until else now), "")])
    except (TrailError, *AWS_ERRORS) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"audit replay {trail.environment}: ledger {trail.table} -> s3://{trail.bucket}/{trail.prefix} "
          f"(create-only), {len(windows)} window(s){' DRY RUN' if args.dry_run else ''}")
    failed = 0
    for window, receipt in windows:
        result = replay(trail, window, now, dry_run=args.dry_run)
        print(result.line(window))
        failed += result.failed
        if receipt:
            url = trail.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            if args.ack and not result.failed and not args.dry_run:
                trail.sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)
                print("  DLQ message acknowledged (deleted)")
            else:  # visible again at once: the alarm stays on until someone acknowledges it
                trail.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
    print("Verify: make reconcile for the same window reports no missing_object.")
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
