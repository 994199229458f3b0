"""payments_core: shared business rules and small AWS adapters for the
payment Lambda functions (shipped as a Lambda layer; stdlib + boto3 only)."""
from .schema import PAYMENT_REQUEST_SCHEMA

__all__ = ["PAYMENT_REQUEST_SCHEMA"]
__version__ = "1.0.0"
