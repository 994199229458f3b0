"""Constructs of the payment platform. Importing this package enables the fast provider import."""

from modules import provider_loader as _provider_loader  # noqa: F401  (side effect: fast import)
