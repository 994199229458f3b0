"""The ``payment_limits`` setting's bridge to the functions' own parser (``payments_core.limits``).

Synth validates the setting and renders the functions' ``PAYMENT_LIMITS`` variable with the very code
that reads it at run time, so the two can never disagree on what a valid override is.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

LAYER_SOURCE = Path(__file__).resolve().parent.parent / "lambdas" / "shared" / "python"


def layer_module(name: str) -> ModuleType:
    """``payments_core.<name>`` from the layer's source tree (synth reuses the functions' own code)."""
    if str(LAYER_SOURCE) not in sys.path:
        sys.path.append(str(LAYER_SOURCE))
    return importlib.import_module(f"payments_core.{name}")


def payment_limits_env(text: str) -> dict[str, str]:
    """The functions' ``PAYMENT_LIMITS`` variable in canonical form; none when nothing is overridden."""
    canonical = layer_module("limits").build_limits(text).overrides
    return {"PAYMENT_LIMITS": canonical} if canonical else {}
