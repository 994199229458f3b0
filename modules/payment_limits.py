"""The ``payment_limits`` setting's bridge to the functions' own parser (``payments_core.limits``).

Synth validates the setting and renders the functions' ``PAYMENT_LIMITS`` variable with the very code
that reads it at run time, so the two can never disagree on what a valid override is.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

LAYER_SOURCE = Path(__file__).resolve().parent.parent / "lambdas" / "shared" / "python"


def limits_module() -> ModuleType:
    """``payments_core.limits`` from the layer's source tree."""
    if str(LAYER_SOURCE) not in sys.path:
        sys.path.append(str(LAYER_SOURCE))
    from payments_core import limits  # noqa: PLC0415
    return limits


def payment_limits_env(text: str) -> dict[str, str]:
    """The functions' ``PAYMENT_LIMITS`` variable in canonical form; none when nothing is overridden."""
    limits = limits_module()
    canonical = limits.format_overrides(limits.parse_overrides(text))
    return {"PAYMENT_LIMITS": canonical} if canonical else {}
