"""What every part of the offline rehearsal shares: the project root, the failure type, the log line
and the exclusion list of modules/rehearsal.py (read without jsii)."""

from __future__ import annotations

from pathlib import Path

from scripts.plain_modules import import_plain

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_rehearsal = import_plain("rehearsal")  # its EXCLUSIONS are plain Python
EXCLUSIONS = _rehearsal.EXCLUSIONS
Exclusion = _rehearsal.Exclusion

STATE_STACK = "payments-state"
ACCOUNT_STACK = "payments-account"


class RehearsalError(RuntimeError):
    """A phase failed; the message is what the report shows."""


def log(message: str) -> None:
    print(message, flush=True)


def exclusion_for(address: str, kind: str) -> Exclusion | None:
    rtype = address.split(".")[0]
    return next((e for e in EXCLUSIONS if e.kind == kind and e.resource_type == rtype), None)

