"""Structured JSON logging for the whole function process, with card numbers masked.

One JSON object per line on stdout (CloudWatch Logs ingests each line as one
event)::

    {"timestamp": "...", "level": "INFO", "message": "...",
     "correlation_id": "...", "function": "process", "logger": "payments", ...fields}

Scope: every log record the process creates, not only ours. :func:`configure`
(called at the start of every invocation) makes the root logger the one sink:

* a log-record factory masks the message, its arguments, the traceback and the
  stack of every record when it is created, whatever the logger (boto3, botocore,
  urllib3, the root logger, ``py.warnings``) and whatever the level, so even a
  handler attached directly to a third-party logger never sees a card number;
* the root logger gets our JSON handler, the root level follows ``LOG_LEVEL``
  (DEBUG included: botocore then logs request and response bodies) and every
  other root handler gets :class:`PanMaskingFilter` (it also masks ``extra=``
  fields, which are attached after the factory ran); the Lambda runtime's own
  root handler is removed, because it would print every line a second time;
* ``warnings`` are routed into logging (``logging.captureWarnings``);
* the JSON formatter masks the final line once more.

Not covered: text written with ``print`` or straight to ``sys.stdout``/``stderr``
(the package never does; a stream wrapper could not see a card number split
across two writes anyway).

What counts as a card number (:func:`is_pan`), and why. A masking rule errs one
way or the other; the costs are not symmetric, but both are real:

* A false negative puts a PAN in CloudWatch Logs: a PCI DSS finding, and the
  log group becomes cardholder-data scope. So every plausible PAN form is
  masked: 13-19 digits, contiguous or grouped by single spaces or dashes in any
  grouping, even glued to letters (``cust4111111111111111``), and inside base64
  blobs (botocore logs the body of KMS ``GenerateMac`` with the domain-separated
  PAN base64-encoded; such a blob is replaced by ``[base64 redacted]``).
* A false positive destroys the evidence an operator needs: correlation ids
  (UUIDs), DynamoDB sequence numbers, epoch-millisecond timestamps, digests.
  The old rule (any 12-19 digit run) masked every 13-digit epoch-ms timestamp
  and the digit groups of UUIDs such as ``12345678-1234-1234-...``.

So a digit run is a PAN only if it is also Luhn-valid (a real PAN always is;
this alone clears 90 % of random numbers) and its issuer prefix is possible
for its length (ISO/IEC 7812): never a leading 0; a leading 1 only at 15
digits (UATP); 13 digits only for 4, 5 or 6 (legacy Visa, Maestro). That
keeps every 13-digit epoch-ms timestamp (they start with 1 until 2033, with 2
or 3 until 2096) and, until 2033, every epoch-us (16 digits) and epoch-ns (19
digits) value. Canonical UUIDs and hex digests (32+ hex characters with a
letter) are left whole. A run longer than 19 digits without separators (a
sequence number) is not a PAN; a grouped run is searched group-aligned for a
13-19 digit PAN. The accepted false positive: any other 14-19 digit number
starting with 2-9 that happens to pass Luhn (1 in 10) is masked.

The accepted false negatives: a Luhn-invalid number (a mistyped PAN: the
functions reject it before any AWS call or log line, and never echo input), a
PAN glued to more digits without a separator, and a PAN deliberately disguised
inside a UUID- or digest-shaped token or another encoding. Masking is a guard
against accidents; a caller who encodes a PAN on purpose can always defeat it,
which is why card data is also never put in log fields by design.
"""
from __future__ import annotations

import base64
import binascii
import contextvars
import datetime as _dt
import json
import logging
import re
import sys
from typing import Any

from .validation import luhn_valid

LOGGER_NAME = "payments"
BASE64_REDACTED = "[base64 redacted]"

# Digit pass, token shapes tried in this order at each position: UUIDs and hex digests are left as
# they are, a digit run (single spaces/dashes allowed) is checked for PANs.
_UUID = r"(?P<uuid>(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f]))"
_HEX = r"(?P<hex>(?<![0-9A-Za-z])(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Za-z]))"
_DIGITS = r"(?P<digits>(?<![0-9])[0-9](?:[ \-]?[0-9])*)"
_PLAIN_RE = re.compile("|".join((_UUID, _HEX, _DIGITS)))
# Base64 pass: a blob is decoded and replaced whole when its text holds a PAN.
_B64_RE = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
# Cheap test for "could contain a PAN or a base64 blob"; most lines fail it and are returned as is.
_HINT_RE = re.compile(r"[0-9](?:[ \-]?[0-9]){12}|[A-Za-z0-9+/]{16}")
_GROUP_SPLIT_RE = re.compile(r"([ \-])")
_PAN_MIN, _PAN_MAX = 13, 19

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None)
_function_name: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "function_name", default=None)

# Attributes present on every LogRecord; anything else came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "_payments_masked"}


# --------------------------------------------------------------------- detection

def is_pan(digits: str) -> bool:
    """Whether a string of ASCII digits can be a card number (see module docstring)."""
    length = len(digits)
    if not _PAN_MIN <= length <= _PAN_MAX or not luhn_valid(digits):
        return False
    first = digits[0]
    if first == "0":
        return False
    if first == "1":
        return length == 15
    if length == 13:
        return first in "456"
    return True


def _masked(digits: str) -> str:
    return "*" * (len(digits) - 4) + digits[-4:]


def _mask_run(run: str) -> str:
    """Mask the PANs in one run of digits joined by single spaces or dashes."""
    parts = _GROUP_SPLIT_RE.split(run)  # groups at even indexes, separators at odd
    groups = parts[0::2]
    if len(groups) == 1:
        return _masked(run) if is_pan(run) else run
    out: list[str] = []
    i = 0
    while i < len(groups):
        # Longest group-aligned window of 13-19 digits starting at group i that is a PAN.
        best = None
        total = 0
        for j in range(i, len(groups)):
            total += len(groups[j])
            if total > _PAN_MAX:
                break
            if total >= _PAN_MIN and is_pan("".join(groups[i:j + 1])):
                best = j
        if best is None:
            out.append(groups[i])
            if i < len(groups) - 1:
                out.append(parts[2 * i + 1])
            i += 1
            continue
        out.append(_masked("".join(groups[i:best + 1])))
        if best < len(groups) - 1:
            out.append(parts[2 * best + 1])
        i = best + 1
    return "".join(out)


def _decoded_has_pan(token: str) -> bool:
    core = token.rstrip("=")
    if len(core) % 4 == 1:
        core = core[:-1]
    try:
        raw = base64.b64decode(core + "=" * (-len(core) % 4))
    except (binascii.Error, ValueError):
        return False
    text = raw.decode("latin-1")
    return _PLAIN_RE.sub(_plain_sub, text) != text


def _plain_sub(match: re.Match[str]) -> str:
    digits = match.group("digits")
    return match.group(0) if digits is None else _mask_run(digits)


def _b64_sub(match: re.Match[str]) -> str:
    return BASE64_REDACTED if _decoded_has_pan(match.group(0)) else match.group(0)  # else untouched


def mask_pans(text: str) -> str:
    """Replace every card number in ``text`` by ``*`` and its last four digits."""
    if not _HINT_RE.search(text):
        return text
    # Base64 first, on the text as logged (pass 1 could break a blob by masking digits inside it).
    return _PLAIN_RE.sub(_plain_sub, _B64_RE.sub(_b64_sub, text))


# ----------------------------------------------------------------------- records

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


# On records the factory masked: the masked message (a record whose msg was replaced
# afterwards, e.g. by logging.makeLogRecord, is masked again).
_MASKED = "_payments_masked"


def _mask_record(record: logging.LogRecord, extras: bool) -> None:
    if record.args is None and getattr(record, _MASKED, None) is record.msg:
        if extras:
            _mask_extras(record)
        return
    try:
        message = record.getMessage()
    except Exception:  # malformed %-args: keep something useful
        message = str(record.msg)
    record.msg = mask_pans(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        # Formatters reuse a cached exc_text, so masking it here covers every
        # handler that renders the traceback.
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_pans(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_pans(record.stack_info)
    if extras:
        _mask_extras(record)


def _mask_extras(record: logging.LogRecord) -> None:
    for key, value in list(vars(record).items()):
        if key not in _STANDARD_ATTRS:
            setattr(record, key, _mask_value(value))


class PanMaskingFilter(logging.Filter):
    """Masks card numbers in the message, its args, the traceback and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        _mask_record(record, extras=True)
        return True


def _install_record_factory() -> None:
    current = logging.getLogRecordFactory()
    if getattr(current, "_payments_masking", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _mask_record(record, extras=False)  # extras are attached after the factory
        # Not an ``extra`` field: it is set before makeRecord copies extras, and it is skipped
        # by the formatter (see _STANDARD_ATTRS).
        setattr(record, _MASKED, record.msg)
        return record

    factory._payments_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


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
        self.setFormatter(JsonFormatter())
        self.addFilter(PanMaskingFilter())

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ assigns it
        pass


def _is_lambda_runtime_handler(handler: logging.Handler) -> bool:
    # awslambdaric's LambdaLoggerHandler / LambdaLoggerHandlerWithFrameType.
    return type(handler).__name__.startswith("LambdaLoggerHandler")


def _install_root_sink() -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if _is_lambda_runtime_handler(handler):
            root.removeHandler(handler)
    if not any(isinstance(h, _StdoutHandler) for h in root.handlers):
        root.addHandler(_StdoutHandler())
    for handler in root.handlers:  # e.g. handlers added by tooling
        if not any(isinstance(f, PanMaskingFilter) for f in handler.filters):
            handler.addFilter(PanMaskingFilter())


def get_logger() -> logging.Logger:
    """The package logger; masking is installed process-wide (idempotent)."""
    logger = logging.getLogger(LOGGER_NAME)
    _install_record_factory()
    _install_root_sink()
    if not any(isinstance(f, PanMaskingFilter) for f in logger.filters):
        # Handlers attached to this logger directly still get masked extras.
        logger.addFilter(PanMaskingFilter())
    logger.propagate = True  # the root handler is the one sink
    return logger


def configure(function_name: str, correlation_id: str | None, level: str = "INFO") -> logging.Logger:
    """Bind the invocation context and level (ours and third-party loggers'); returns the logger."""
    logger = get_logger()
    resolved = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    resolved = resolved if isinstance(resolved, int) else logging.INFO
    logger.setLevel(resolved)
    logging.getLogger().setLevel(resolved)
    # ``warnings`` go through logging (so through the masking). Re-installed on every
    # invocation because a harness may have restored ``warnings.showwarning``.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    _function_name.set(function_name)
    _correlation_id.set(correlation_id)
    return logger


