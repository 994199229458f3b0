"""Structured JSON logging with PAN masking.

One JSON object per line on stdout (CloudWatch Logs ingests each line as one
event)::

    {"timestamp": "...", "level": "INFO", "message": "...",
     "correlation_id": "...", "function": "process", ...extra fields}

Every record passes through :class:`PanMaskingFilter` and the formatter masks
the final line again, so any run of 12-19 digits (optionally separated by
single spaces or dashes) is replaced by ``************1111`` wherever it
appears: message, arguments, extra fields or exception tracebacks.
"""
from __future__ import annotations

import contextvars
import datetime as _dt
import json
import logging
import re
import sys
from typing import Any

LOGGER_NAME = "payments"

# 12-19 ASCII digits, each optionally followed by one space or dash, not
# embedded in a longer digit run.
_PAN_RE = re.compile(r"(?<![0-9])(?:[0-9][ \-]?){11,18}[0-9](?![0-9])")

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None)
_function_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "function_name", default=None)

# Attributes present on every LogRecord; anything else came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}


def _mask_match(match: re.Match[str]) -> str:
    digits = re.sub(r"[^0-9]", "", match.group(0))
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_pans(text: str) -> str:
    """Replace every 12-19 digit run (spaces/dashes allowed) by a masked form."""
    return _PAN_RE.sub(_mask_match, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pans(value)
    if isinstance(value, dict):
        return {mask_pans(str(k)): _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_mask_value(v) for v in value]
    if isinstance(value, (bool, type(None))):
        return value
    if isinstance(value, (int, float)):
        masked = mask_pans(str(value))
        return value if masked == str(value) else masked
    return mask_pans(str(value))


class PanMaskingFilter(logging.Filter):
    """Masks card numbers in the message, its args and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # malformed %-args: keep something useful
            message = str(record.msg)
        record.msg = mask_pans(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse a cached exc_text, so masking it here covers
            # every handler that renders the traceback.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pans(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pans(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, _mask_value(value))
        return True


class JsonFormatter(logging.Formatter):
    """Renders a record as a single JSON line (then masks it once more)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _dt.datetime.fromtimestamp(
                record.created, tz=_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None) or _correlation_id.get(),
            "function": getattr(record, "function", None) or _function_name.get(),
            "logger": record.name,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        line = json.dumps(entry, default=str, ensure_ascii=False, separators=(",", ":"))
        return mask_pans(line)


class _StdoutHandler(logging.StreamHandler):
    """StreamHandler that resolves ``sys.stdout`` at emit time.

    (So output captured by test harnesses, which swap sys.stdout, is seen.)
    """

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ assigns it
        pass


def get_logger() -> logging.Logger:
    """The package logger, configured once (idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not getattr(logger, "_payments_configured", False):
        # Filter on the logger (so every handler, including ones attached by the
        # runtime or test tooling, sees masked records) and on our handler.
        logger.addFilter(PanMaskingFilter())
        handler = _StdoutHandler()
        handler.addFilter(PanMaskingFilter())
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False  # the Lambda root handler would duplicate lines
        logger._payments_configured = True  # type: ignore[attr-defined]
    return logger


def configure(function_name: str, correlation_id: str | None, level: str = "INFO") -> logging.Logger:
    """Bind the invocation context and level; returns the logger."""
    logger = get_logger()
    resolved = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    logger.setLevel(resolved if isinstance(resolved, int) else logging.INFO)
    _function_name.set(function_name)
    _correlation_id.set(correlation_id)
    return logger
