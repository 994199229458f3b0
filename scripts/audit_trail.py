"""The ledger and its audit trail as the operator commands see them (scripts/reconcile.py,
scripts/audit_replay.py): one deployed environment's table, bucket and key, the ledger rows of a
time window, and the audit objects of that window per merchant.

The document model (object keys, allow-listed fields, digests) is the audit writer's own
(lambdas/shared/python/payments_core/audit.py), imported from the layer's source, so a replayed object
and a reconciled digest are byte for byte what the writer makes. Plain Python: no jsii, no cdktf.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAYER = PROJECT_ROOT / "lambdas" / "shared" / "python"
if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402
from payments_core import audit  # noqa: E402  (the writer's document model)
from scripts.plain_modules import import_plain  # noqa: E402

#: modules/compute.py AUDIT_PREFIX (tests/test_compute.py checks it against the deployed writer).
AUDIT_PREFIX = "audit/"
# modules/parameters.py: the stack writes these SSM parameters (identifiers, no secrets).
PARAMETER = "/payment/{name}-{environment}"
PARAMETERS = {"table": "transaction-table", "bucket": "audit-bucket", "kms_key_id": "kms-key-id"}


class TrailError(RuntimeError):
    """A request the command refuses; the message is the whole report."""


#: What the commands turn into one line and exit status 2 (no credentials, access denied...).
AWS_ERRORS = (BotoCoreError, ClientError)


@dataclass(frozen=True)
class Window:
    """Ledger rows and audit objects whose payment ``timestamp`` is in ``[since, until)``."""

    since: dt.datetime
    until: dt.datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise TrailError("window bounds must be timezone-aware (UTC)")
        if self.since >= self.until:
            raise TrailError(f"empty window: since {self.since:%Y-%m-%dT%H:%M:%SZ} is not before "
                             f"until {self.until:%Y-%m-%dT%H:%M:%SZ}")

    def contains(self, epoch_seconds: Any) -> bool:
        try:
            return int(self.since.timestamp()) <= int(epoch_seconds) < int(self.until.timestamp())
        except (TypeError, ValueError):
            return False

    def days(self) -> list[dt.date]:
        """The UTC days the window touches (the trail's date folders)."""
        first, last = self.since.date(), (self.until - dt.timedelta(microseconds=1)).date()
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]

    def describe(self) -> str:
        return f"[{self.since:%Y-%m-%dT%H:%M:%SZ}, {self.until:%Y-%m-%dT%H:%M:%SZ})"


def parse_time(text: str) -> dt.datetime:
    """An ISO date or date-time; naive means UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TrailError(f"not an ISO date or date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Trail:
    """One deployed environment's ledger and audit trail, with the clients to reach them."""

    environment: str
    table: str
    bucket: str
    kms_key_id: str
    ddb: Any
    s3: Any
    sqs: Any
    prefix: str = AUDIT_PREFIX

    @classmethod
    def connect(cls, environment: str, region: str, endpoint_url: str | None) -> "Trail":
        import boto3  # noqa: PLC0415  (only when talking to AWS; --help stays fast)

        session = boto3.session.Session(region_name=region)
        make = lambda service: session.client(service, endpoint_url=endpoint_url or None)  # noqa: E731
        names = {PARAMETER.format(name=n, environment=environment): k for k, n in PARAMETERS.items()}
        found = make("ssm").get_parameters(Names=sorted(names)).get("Parameters", [])
        values = {names[p["Name"]]: p["Value"] for p in found}
        missing = sorted(n for n, k in names.items() if k not in values)
        if missing:
            raise TrailError(f"environment {environment} is not deployed in {region} "
                             f"(missing SSM parameter {', '.join(missing)})")
        return cls(environment, values["table"], values["bucket"], values["kms_key_id"],
                   make("dynamodb"), make("s3"), make("sqs"))

    # ---------------------------------------------------------------- the ledger

    def ledger_rows(self, window: Window) -> list[dict[str, Any]]:
        """Every ledger row of the window, strongly consistent (a full Scan with a filter: the
        reconciliation reads each row once a day; no index is keyed by time alone)."""
        rows = []
        kwargs: dict[str, Any] = dict(
            TableName=self.table, ConsistentRead=True,
            FilterExpression="#ts >= :since AND #ts < :until", ExpressionAttributeNames={"#ts": "timestamp"},
            ExpressionAttributeValues={":since": {"N": str(int(window.since.timestamp()))},
                                       ":until": {"N": str(int(window.until.timestamp()))}})
        for page in self.ddb.get_paginator("scan").paginate(**kwargs):
            rows += [audit.deserialize(item) for item in page.get("Items", [])]
        return rows

    # ---------------------------------------------------------------- the trail

    def _keys(self, prefix: str) -> Iterator[str]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from (o["Key"] for o in page.get("Contents", []))

    def merchants(self) -> list[str]:
        """Every merchant with a folder in the trail."""
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}merchant=", Delimiter="/"):
            found += [p["Prefix"][len(self.prefix) + len("merchant="):-1] for p in page.get("CommonPrefixes", [])]
        return sorted(found)

    def insert_keys(self, merchant: str, window: Window) -> list[str]:
        """Object keys of the merchant's payments in the window's date folders."""
        base = audit.merchant_prefix(self.prefix, merchant)
        return [k for day in window.days() for k in self._keys(f"{base}{day:%Y/%m/%d}/")]

    def change_keys(self, merchant: str, window: Window) -> list[str]:
        """The merchant's change objects (MODIFY/REMOVE) made on or after the window's first day: a
        payment of the window may be changed any day after it."""
        base = f"{audit.merchant_prefix(self.prefix, merchant)}{audit.CHANGES}/"
        first = f"{base}{window.since:%Y/%m/%d}/"
        return [k for k in self._keys(base) if k >= first]

    def document(self, key: str) -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())


@dataclass
class AuditedState:
    """What the trail says one transaction is now: its insert document, then its changes in stream
    order (a MODIFY's new fields replace them, a REMOVE ends it)."""

    insert: dict[str, Any] | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)

    def current(self) -> tuple[dict[str, Any] | None, str | None]:
        """(fields, digest) the ledger row should have now; (None, None) once removed or unknown."""
        fields = {k: v for k, v in (self.insert or {}).items()
                  if k not in ("event", "digest", "audit_source")} if self.insert else None
        digest = self.insert.get("digest") if self.insert else None
        for change in sorted(self.changes, key=lambda c: int(c["audit_source"]["sequence_number"])):
            fields, digest = change.get("new"), change.get("new_digest")
        return fields, digest

    @property
    def removed(self) -> bool:
        return bool(self.changes) and self.current()[1] is None


def row_key(row: dict[str, Any]) -> audit.LedgerKey:
    return audit.LedgerKey.parse(row.get(audit.LEDGER_KEY))


def row_digest(key: audit.LedgerKey, row: dict[str, Any]) -> str:
    return audit.fields_digest(audit.audited_fields(key, row))


# --------------------------------------------------------------------------- the commands' common part


def add_arguments(parser: argparse.ArgumentParser, until_default: str) -> None:
    """The options both commands take: which environment, which window, which endpoint."""
    parser.add_argument("--environment", help="environment (default ENVIRONMENT_SUFFIX, cdktf.json, dev)")
    parser.add_argument("--since", help="window start, ISO date or date-time (UTC)")
    parser.add_argument("--until", help=f"window end, exclusive (default {until_default})")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default PAYMENTS_AWS_ENDPOINT)")


def connect(args: argparse.Namespace) -> Trail:
    """The trail of the environment the settings name (--environment, else ENVIRONMENT_SUFFIX...)."""
    settings_module = import_plain("settings")
    env_vars = {**os.environ, "ENVIRONMENT_SUFFIX": args.environment} if args.environment else None
    try:
        settings = settings_module.build_settings(settings_module.load_cdktf_context(), env_vars)
    except settings_module.SettingsError as err:
        raise TrailError(str(err)) from None
    return Trail.connect(settings.environment, settings.region, args.endpoint_url or settings.aws_endpoint)
