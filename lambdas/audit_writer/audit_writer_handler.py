"""DynamoDB Stream consumer: one SSE-KMS audit object per change of the ledger (insert, modify, remove).

Returns the partial batch response (ReportBatchItemFailures) so only failed
records are retried; exhausted records go to the on-failure destination.
"""
from __future__ import annotations

from typing import Any

from payments_core import aws, log
from payments_core.audit import process_stream_batch
from payments_core.config import load_config

FUNCTION_NAME = "audit_writer"


def handler(event: dict, context: Any) -> dict:
    request_id = getattr(context, "aws_request_id", None)
    config = load_config()
    log.configure(FUNCTION_NAME, request_id, config.log_level)
    return process_stream_batch(
        event,
        s3=aws.client("s3"),
        bucket=config.require("audit_bucket"),
        prefix=config.audit_prefix,
        kms_key_id=config.require("audit_kms_key_id"),
        environment=config.environment,
    )
