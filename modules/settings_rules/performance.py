"""Rules for the functions' latency budget: architecture, memory, SnapStart, provisioned concurrency."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

ARCHITECTURES = ("arm64", "x86_64")
FUNCTION_KEYS = ("validate", "fraud-check", "process", "audit-writer")
MEMORY_MB = (128, 10_240)   # Lambda's range
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "lambda_architecture": " or ".join(f"`{a}`" for a in ARCHITECTURES),
    "lambda_memory": "`function=MB,...` for functions among {}; {}..{} MB each".format(", ".join(FUNCTION_KEYS), *MEMORY_MB),
    "lambda_snap_start": "not together with provisioned concurrency (Lambda refuses it)",
    "lambda_provisioned_concurrency": "0..lambda_reserved_concurrency; 0 with SnapStart",
}


def check_performance(s: Settings) -> None:
    """Known architecture; memory per known function within Lambda's range; SnapStart and
    provisioned concurrency not together (Lambda refuses it); provisioned within reserved."""
    if s.lambda_architecture not in ARCHITECTURES:
        raise SettingsError("lambda_architecture", f"{s.lambda_architecture!r} is not one of {ARCHITECTURES}")
    try:
        memory = s.function_memory
    except ValueError:
        raise SettingsError("lambda_memory", f"{s.lambda_memory!r}: expected function=MB, comma-separated") from None
    low, high = MEMORY_MB
    for key, mb in memory.items():
        if key not in FUNCTION_KEYS:
            raise SettingsError("lambda_memory", f"{key!r} is not a function ({', '.join(FUNCTION_KEYS)})")
        if not low <= mb <= high:
            raise SettingsError("lambda_memory", f"{key}={mb}: Lambda allows {low}..{high} MB")
    if s.lambda_provisioned_concurrency < 0:
        raise SettingsError("lambda_provisioned_concurrency", "must not be negative")
    if s.lambda_snap_start and s.lambda_provisioned_concurrency:
        raise SettingsError("lambda_snap_start", "Lambda does not support SnapStart together with "
                            "provisioned concurrency; choose one (lambda_provisioned_concurrency=0)")
    if s.lambda_provisioned_concurrency > s.lambda_reserved_concurrency:
        raise SettingsError("lambda_provisioned_concurrency", f"{s.lambda_provisioned_concurrency} is more than "
                            f"the reserved concurrency ({s.lambda_reserved_concurrency}) of each function")
