"""Fence a region (it stores no payment) before a failover, lift the fence after, or show it.

    make fence REGION=us-east-1 ENVIRONMENT_SUFFIX=prod [VIA=us-west-2] [REASON="failover drill"]
    make unfence REGION=us-east-1 ENVIRONMENT_SUFFIX=prod [VIA=us-west-2]
    make fence-status ENVIRONMENT_SUFFIX=prod [VIA=us-west-2]
    python -m scripts.fence {fence,unfence,status} [--region R] [--via V] [--reason TEXT] [--endpoint-url URL]

The fence is the merchant registry item ``region-fence#<region>`` (payments_core/fence.py): while it
says ``fenced``, ``/process`` in that region answers 503 ``REGION_FENCED`` and stores nothing (within the
functions' 5 s cache). The registry is a global table, so the item can be written in whichever region
still answers (``--via``, default the DR region when there is one): it replicates to the other. The
registry's name comes from the settings, not from the stack's SSM parameters, which live in the
primary region only.

The primary region is open without an item; the standby (``dr_region``) is fenced without one, and
is opened by an item saying ``fenced = false`` (``make unfence REGION=<dr_region>``, or ``make
failover``). Every change is conditional (a fence is written only where the region is open, lifted
only where it is fenced), so two operators cannot both act on a stale view; asking for the state there is changes nothing
and says so. Exit status: 0 done or nothing to do, 1 refused or AWS error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from modules.payment_limits import layer_module  # noqa: E402
from scripts.plain_modules import import_plain  # noqa: E402

# What the functions read (payments_core/fence.py): the item's key and how long they trust it.
_core = layer_module("fence")
PREFIX, FUNCTION_CACHE_SECONDS = _core.PREFIX, int(_core.CACHE_SECONDS)


@dataclass(frozen=True)
class Fence:
    """A region's fence as one replica of the registry has it. ``since``: when the item was last
    written (None: no item, the region's default)."""

    region: str
    fenced: bool
    since: str | None = None
    reason: str | None = None

    def describe(self) -> str:
        if self.since is None:
            return "FENCED (standby: until `make failover` opens it)" if self.fenced else "taking payments"
        return (f"FENCED since {self.since} ({self.reason})" if self.fenced
                else f"taking payments since {self.since} ({self.reason})")


def registry_table(settings: Any) -> str:
    return settings.name("merchant-registry")


def fenced_by_default(settings: Any, region: str) -> bool:
    """The standby (dr_region) is fenced until it is opened; the primary is open until it is fenced
    (what each region's functions are told: payments_core.fence REGION_FENCED_BY_DEFAULT)."""
    return bool(settings.dr_region) and region == settings.dr_region


def read(ddb: Any, table: str, region: str, default: bool = False) -> Fence:
    item = ddb.get_item(TableName=table, Key={"client_id": {"S": PREFIX + region}}, ConsistentRead=True).get("Item")
    if not item:
        return Fence(region, default)
    return Fence(region, _core.fenced_by(item, default), item.get("changed_at", {}).get("S", "?"),
                 item.get("reason", {}).get("S"))


def _write(ddb: Any, table: str, region: str, fenced: bool, reason: str, now: dt.datetime, default: bool) -> tuple[Fence, bool]:
    """Set ``region``'s fence to ``fenced`` unless it is so already; (its fence, whether this call
    changed it). Conditional on the state read, so a concurrent change by another operator wins."""
    before = read(ddb, table, region, default)
    if before.fenced == fenced:
        return before, False
    stamp = now.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    # What was read: no item, or an item saying the opposite (an item without the flag is a fence).
    condition = ("attribute_not_exists(client_id) OR fenced = :was" if fenced
                 else "attribute_not_exists(client_id) OR attribute_not_exists(fenced) OR fenced = :was")
    try:
        ddb.put_item(TableName=table, ConditionExpression=condition,
                     ExpressionAttributeValues={":was": {"BOOL": not fenced}}, Item={
                         "client_id": {"S": PREFIX + region}, "fenced": {"BOOL": fenced},
                         "changed_at": {"S": stamp}, "reason": {"S": reason}})
    except ddb.exceptions.ConditionalCheckFailedException:
        return read(ddb, table, region, default), False
    return Fence(region, fenced, stamp, reason), True


def fence(ddb: Any, table: str, region: str, reason: str, now: dt.datetime, default: bool = False) -> tuple[Fence, bool]:
    """Fence ``region``; (its fence, whether this call fenced it). The first fence stands."""
    return _write(ddb, table, region, True, reason, now, default)


def unfence(ddb: Any, table: str, region: str, now: dt.datetime | None = None, default: bool = False,
            reason: str = "unfenced") -> tuple[Fence, bool]:
    """Open ``region``; (its fence before, whether this call opened it). Written as ``fenced =
    false``, not deleted: a standby region without an item is fenced."""
    before = read(ddb, table, region, default)
    after, changed = _write(ddb, table, region, False, reason, now or dt.datetime.now(dt.timezone.utc), default)
    return (before if changed else after), changed


def status(client: Any, table: str, regions: Sequence[str], via: str, settings: Any) -> list[str]:
    """Each region's fence as that region's own replica of the registry has it (what its functions
    read), and where the replica written through ``via`` does not agree yet (replication lag: the
    region still stores payments until its own replica has the fence)."""
    lines = []
    for region in regions:
        try:
            own = read(client(region), table, region, fenced_by_default(settings, region))
        except Exception as err:  # the region is the one that failed: say so, do not stop
            code = getattr(err, "response", {}).get("Error", {}).get("Code") or type(err).__name__
            lines.append(f"{region}: cannot read its own replica ({code})")
            continue
        lines.append(f"{region}: {own.describe()} (its own replica)")
        if region != via:
            written = read(client(via), table, region, fenced_by_default(settings, region))
            if written.fenced != own.fenced:
                lines.append(f"{region}: {via}'s replica says {'fenced' if written.fenced else 'not fenced'}: not yet "
                             f"replicated to {region}; {region} {'still stores payments' if written.fenced else 'is still fenced'}")
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.fence", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("fence", "unfence", "status"))
    parser.add_argument("--environment", help="environment (default ENVIRONMENT_SUFFIX, cdktf.json, dev)")
    parser.add_argument("--region", help="the region to fence or unfence (default: the platform's region)")
    parser.add_argument("--via", help="the region whose replica of the registry to write (default: dr_region, "
                                      "else the platform's region)")
    parser.add_argument("--reason", default="failover", help="recorded with the fence")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default PAYMENTS_AWS_ENDPOINT; empty: real AWS)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings_module = import_plain("settings")
    try:
        env_vars = {**os.environ, "ENVIRONMENT_SUFFIX": args.environment} if args.environment else None
        s = settings_module.build_settings(settings_module.load_cdktf_context(), env_vars)
        region, via = args.region or s.region, args.via or s.dr_region or s.region
        import boto3  # noqa: PLC0415  (only when talking to AWS)

        def client(region_name: str) -> Any:
            return boto3.session.Session(region_name=region_name).client(
                "dynamodb", endpoint_url=args.endpoint_url or s.aws_endpoint or None)
        ddb = client(via)
        table = registry_table(s)
        if args.action == "status":
            for line in status(client, table, [x for x in dict.fromkeys((s.region, s.dr_region)) if x], via, s):
                print(line)
            return 0
        now, default = dt.datetime.now(dt.timezone.utc), fenced_by_default(s, region)
        if args.action == "fence":
            f, wrote = fence(ddb, table, region, args.reason, now, default)
            print(f"{region} fenced at {f.since} ({f.reason}), written in {via}: /process there stores nothing "
                  f"within {FUNCTION_CACHE_SECONDS} s of the item reaching it" if wrote else
                  f"{region} already {f.describe()}; nothing changed")
            return 0
        f, lifted = unfence(ddb, table, region, now, default, args.reason)
        print(f"{region} unfenced (was {f.describe()}), written in {via}: payments stored again "
              f"within {FUNCTION_CACHE_SECONDS} s" if lifted else f"{region} was not fenced; nothing changed")
        return 0
    except settings_module.SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
    except Exception as err:  # botocore errors: one line, the operation and the code
        code = getattr(err, "response", {}).get("Error", {}).get("Code")
        print(f"error: AWS {code or type(err).__name__}: {err}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
