"""The rehearsal's tamper-and-repair story on the applied stack (issue 20): two payments and their
audit objects; then a forced MODIFY of one (as someone with write access to the table would do) and
the deletion of the other's audit object (outside prod the lock is governance mode: an operator who
first removes the bucket policy's DenyObjectErasure, a separate logged act, can bypass it; the
policy is put back right after). ``make reconcile`` must report both; the writer then files the MODIFY as a change
object, ``make audit-replay`` restores the deleted object, and a second reconcile is clean.

The payments and the writer run in-process like the rest of the smoke test (scripts/rehearsal/
smoke.py); reconcile and replay are the operator commands' own functions, connected through the
stack's SSM parameters on the endpoint."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from scripts import audit_replay, reconcile
from scripts.audit_trail import Trail, Window
from scripts.rehearsal.smoke import (
    TEST_CARD, FakeContext, SmokeContext, check, function_runtime, load_handler, merchant_authorizer,
    process_event, stream_records,
)


def _pay(ctx: SmokeContext, handler: Any, amount: str) -> str:
    body = {"amount": amount, "currency": "EUR", "card_number": TEST_CARD,
            "customer_id": f"cust-ledger-{uuid.uuid4().hex[:8]}"}
    api_key_id = ctx.merchant.api_key_id if ctx.merchant else None  # the key bound to it in the registry
    response = handler(process_event(f"ledger-{uuid.uuid4()}", body, merchant_authorizer(ctx, "payments/process"),
                                     api_key_id), FakeContext(f"payment-process-{ctx.environment}"))
    check(response.get("statusCode") == 200, f"process returned {response.get('statusCode')}: {response.get('body')}")
    return json.loads(response["body"])["transaction_id"]


def _records(ctx: SmokeContext, table: str, transaction_id: str, event: str,
             fallback: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream's ``event`` records of the transaction; built from the items when the endpoint's
    streams API has none (as smoke.py does for the insert)."""
    try:
        found = [r for r in stream_records(ctx, table, transaction_id) if r.get("eventName") == event]
    except Exception:  # botocore errors: the endpoint's streams API is incomplete
        found = []
    return found or [fallback]


def _deliver(ctx: SmokeContext, records: list[dict[str, Any]]) -> None:
    with function_runtime(ctx, ctx.function_env("audit-writer")):
        result = load_handler("audit-writer")({"Records": records},
                                             FakeContext(f"payment-audit-writer-{ctx.environment}"))
    check(result == {"batchItemFailures": []}, f"audit writer reported failures: {result}")


def _bucket_policy(s3: Any, bucket: str) -> str | None:
    """The bucket's policy, None when it has none (the rehearsal may exclude it)."""
    try:
        return s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "NoSuchBucketPolicy":
            return None
        raise


def _findings(reports: list[reconcile.MerchantReport]) -> set[tuple[str, str]]:
    return {(f.kind, f.transaction_id) for r in reports for f in r.findings if f.kind != "totals_differ"}


def tamper_and_reconcile(ctx: SmokeContext) -> None:
    started = time.monotonic()
    process_env = ctx.function_env("process")
    table = process_env["TRANSACTION_TABLE"]
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    with function_runtime(ctx, process_env):
        handler = load_handler("process")
        modified, deleted = _pay(ctx, handler, "20.00"), _pay(ctx, handler, "30.00")
    ddb, s3 = ctx.boto("dynamodb"), ctx.boto("s3")
    merchant = ctx.merchant.client_id if ctx.merchant else ""
    key = {"merchant_transaction": {"S": f"{merchant}#{modified}"}}
    items = {t: ddb.get_item(TableName=table, ConsistentRead=True,
                             Key={"merchant_transaction": {"S": f"{merchant}#{t}"}})["Item"]
             for t in (modified, deleted)}
    inserts = [r for t in (modified, deleted) for r in _records(ctx, table, t, "INSERT", {
        "eventID": str(uuid.uuid4()), "eventName": "INSERT", "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"merchant_transaction": items[t]["merchant_transaction"]},
                     "NewImage": items[t], "SequenceNumber": str(10 + len(t)), "StreamViewType": "NEW_AND_OLD_IMAGES"}})]
    _deliver(ctx, inserts)

    # The tampering: a forced MODIFY of one payment, the audit object of the other deleted.
    ddb.update_item(TableName=table, Key=key, UpdateExpression="SET amount = :a",
                    ExpressionAttributeValues={":a": {"N": "2000"}})
    bucket = ctx.function_env("audit-writer").get("AUDIT_BUCKET", ctx.outputs["audit-bucket"])
    [object_key] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="audit/").get("Contents", [])
                    if o["Key"].endswith(f"/{deleted}.json")]
    policy = _bucket_policy(s3, bucket)
    if policy:
        s3.delete_bucket_policy(Bucket=bucket)
    try:
        for version in s3.list_object_versions(Bucket=bucket, Prefix=object_key).get("Versions", []):
            s3.delete_object(Bucket=bucket, Key=object_key, VersionId=version["VersionId"],
                             BypassGovernanceRetention=True)
    finally:
        if policy:
            s3.put_bucket_policy(Bucket=bucket, Policy=policy)

    with function_runtime(ctx, {}):
        trail = Trail.connect(ctx.environment, ctx.region, ctx.endpoint)
        window = Window(since, dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1))
        first = reconcile.reconcile(trail, window)
        check(_findings(first) == {("digest_differs", modified), ("missing_object", deleted)},
              f"reconcile after tampering: {reconcile.render(ctx.environment, window, first)}")
        ctx.results.append(f"reconcile: forced MODIFY of {modified} (digest_differs) and deleted object of "
                           f"{deleted} (missing_object) both reported")

        # The MODIFY reaches the trail (as the stream mapping delivers it); replay restores the object.
        after = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
        _deliver(ctx, _records(ctx, table, modified, "MODIFY", {
            "eventID": str(uuid.uuid4()), "eventName": "MODIFY", "eventSource": "aws:dynamodb",
            "dynamodb": {"Keys": key, "OldImage": items[modified], "NewImage": after,
                         "ApproximateCreationDateTime": int(time.time()), "SequenceNumber": "99",
                         "StreamViewType": "NEW_AND_OLD_IMAGES"}}))
        replayed = audit_replay.replay(trail, window, dt.datetime.now(dt.timezone.utc))
        check((replayed.written, replayed.failed) == (1, 0), f"audit replay: {replayed}")
        again = audit_replay.replay(trail, window, dt.datetime.now(dt.timezone.utc))
        check(again.written == 0, f"a second audit replay wrote {again.written} object(s)")
        second = reconcile.reconcile(trail, window)
        check(not any(r.findings for r in second),
              f"reconcile after replay: {reconcile.render(ctx.environment, window, second)}")
    changes = [c["event"] for r in second for c in r.changes]
    check(changes == ["MODIFY"], f"audited changes after replay: {changes}")
    ctx.results.append(f"audit-replay restored {object_key} (a second run wrote nothing); MODIFY filed as a "
                       f"change object; second reconcile clean ({time.monotonic() - started:.1f}s)")
