"""What every part of the offline rehearsal shares: the project root, the failure type, the log line
and the exclusion list of modules/rehearsal.py (read without jsii)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _rehearsal_module() -> Any:
    """modules/rehearsal.py without the ``modules`` package __init__ (which loads the jsii assembly):
    its EXCLUSIONS are plain Python."""
    name = "modules.rehearsal"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location("payments_rehearsal_exclusions",
                                                  PROJECT_ROOT / "modules" / "rehearsal.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple/dataclass machinery looks the module up
    spec.loader.exec_module(module)
    return module


_rehearsal = _rehearsal_module()
EXCLUSIONS = _rehearsal.EXCLUSIONS
Exclusion = _rehearsal.Exclusion

STATE_STACK = "payments-state"


class RehearsalError(RuntimeError):
    """A phase failed; the message is what the report shows."""


def log(message: str) -> None:
    print(message, flush=True)


def exclusion_for(address: str, kind: str) -> Exclusion | None:
    rtype = address.split(".")[0]
    return next((e for e in EXCLUSIONS if e.kind == kind and e.resource_type == rtype), None)

