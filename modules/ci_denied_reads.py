"""The one list of reads a CI plan role must never make: each returns a secret or customer data.

A plan role keeps AWS's ``ReadOnlyAccess`` (a refresh reads every resource type of the stack, and
the managed policy follows new types as the stack grows), so every read that returns a secret value
or customer data is taken back here with an explicit Deny, which no Allow can override. Pull-request
code runs with the plan role of dev and staging: whatever it can read, a branch author can print.

Each entry says what the read returns and which resource types' refresh would call it
(``refreshed_by``); tests/test_ci_identities.py checks that no synthesized stack has one of those
types, so the denies never break a plan. Terraform types are written as in the JSON (``aws_x`` for a
resource, ``data.aws_x`` for a data source).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from modules.iam import Statement
from modules.platform import STATE_KEY_ALIAS


@dataclass(frozen=True)
class DeniedRead:
    action: str
    reveals: str
    refreshed_by: tuple[str, ...] = ()   # types whose refresh calls it: none may be in a stack


# Denied on every resource.
EVERYWHERE = (
    DeniedRead("cognito-idp:DescribeUserPoolClient",
               "the ClientSecret of a merchant's app client: anyone holding it acts as that merchant",
               ("aws_cognito_user_pool_client", "data.aws_cognito_user_pool_client")),
    DeniedRead("wafv2:GetSampledRequests",
               "sampled live requests with their headers (Authorization bearer tokens, API keys)"),
    DeniedRead("logs:StartLiveTail", "the live stream of a log group's events"),
    DeniedRead("logs:GetLogEvents", "log events (payment requests, function output)"),
    DeniedRead("logs:FilterLogEvents", "log events matching a pattern"),
    DeniedRead("logs:StartQuery", "starts a Logs Insights query over log events"),
    DeniedRead("logs:GetQueryResults", "the rows of a Logs Insights query (log events)"),
    DeniedRead("logs:GetLogRecord", "one whole log event by its pointer"),
    DeniedRead("logs:Unmask", "log data a data-protection policy masked"),
    DeniedRead("dynamodb:GetItem", "a transaction, idempotency or activity item",
               ("aws_dynamodb_table_item", "data.aws_dynamodb_table_item")),
    DeniedRead("dynamodb:BatchGetItem", "items of the payment tables"),
    DeniedRead("dynamodb:Query", "items of the payment tables"),
    DeniedRead("dynamodb:Scan", "every item of a payment table"),
    DeniedRead("dynamodb:PartiQLSelect", "items of the payment tables through PartiQL"),
    DeniedRead("dynamodb:GetRecords", "the stream of item changes (new and old images)"),
    DeniedRead("dynamodb:ExportTableToPointInTime", "a copy of a whole table into S3"),
    DeniedRead("secretsmanager:GetSecretValue",
               "secret values: merchant client secrets and API keys, database credentials",
               ("aws_secretsmanager_secret_version", "data.aws_secretsmanager_secret_version",
                "data.aws_secretsmanager_secret_versions")),
    DeniedRead("secretsmanager:BatchGetSecretValue", "several secret values at once"),
    DeniedRead("sqs:ReceiveMessage", "queued payment events"),
    DeniedRead("rds:DownloadDBLogFilePortion", "the database's logs (statements with their values)"),
    DeniedRead("rds:DownloadCompleteDBLogFile", "the database's logs (statements with their values)"),
)

# apigateway:GET on the API key resources only (every other GET is configuration a refresh reads).
API_KEY_PATHS = ("/apikeys", "/apikeys/*", "/usageplans/*/keys", "/usageplans/*/keys/*")
API_KEY_VALUES = DeniedRead(
    "apigateway:GET",
    "API key values (get-api-keys --include-values, a usage plan's keys): a merchant's key",
    ("aws_api_gateway_api_key", "data.aws_api_gateway_api_key", "data.aws_api_gateway_api_keys",
     "aws_api_gateway_usage_plan_key"))

# Object reads everywhere but the role's own state and lock file (other environments' states, the
# audit bucket, the trail's logs).
OBJECT_READS = tuple(DeniedRead(action, "object contents: other states (every secret Terraform knows), "
                                "audit records, trail logs", ("aws_s3_object", "data.aws_s3_object",
                                                             "data.aws_s3_objects"))
                     for action in ("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent",
                                    "s3:GetObjectVersionTorrent"))

# kms:Decrypt only through S3, only of the state key: nothing else a plan reads is encrypted under a
# key it must open itself (SecureString parameters, secrets and ciphertexts would be).
DECRYPT = DeniedRead("kms:Decrypt", "plaintext of anything under the platform's keys but the state",
                     ("data.aws_kms_secrets", "data.aws_kms_secret", "aws_kms_ciphertext"))

DENIED_READS = (*EVERYWHERE, API_KEY_VALUES, *OBJECT_READS, DECRYPT)


def denied_read_statements(partition: str, own_objects: list[str], state_regions: Sequence[str]) -> list[Statement]:
    """The plan role's Deny statements for ``DENIED_READS``; ``own_objects`` are the object ARNs it
    may still read (its states and lock files), in the state buckets of ``state_regions``."""
    return [
        Statement(sid="DenySecretAndDataReads", effect="Deny", actions=[r.action for r in EVERYWHERE]),
        Statement(sid="DenyApiKeyValues", effect="Deny", actions=[API_KEY_VALUES.action],
                  resources=[f"arn:{partition}:apigateway:*::{path}" for path in API_KEY_PATHS]),
        Statement(sid="DenyObjectReadsButOwnState", effect="Deny", actions=[r.action for r in OBJECT_READS],
                  resources=(), not_resources=own_objects),
        # Two statements: a Deny applies when all its conditions hold, and decrypting is refused when
        # either one fails (not through S3, or not the state key).
        Statement(sid="DenyDecryptButThroughS3", effect="Deny", actions=[DECRYPT.action],
                  conditions={"StringNotEquals": {"kms:ViaService": [f"s3.{r}.amazonaws.com" for r in state_regions]}}),
        Statement(sid="DenyDecryptButTheStateKey", effect="Deny", actions=[DECRYPT.action],
                  conditions={"ForAllValues:StringNotEquals": {"kms:ResourceAliases": STATE_KEY_ALIAS}}),
    ]
