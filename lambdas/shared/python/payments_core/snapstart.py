"""What must not outlive a SnapStart restore, and the runtime hook that drops it.

With SnapStart, Lambda initialises a published version once, snapshots the memory, and starts every
new execution environment from that snapshot. Anything cached in memory at snapshot time is then
shared by all of them, for as long as the version lives: the merchants' STS sessions (temporary
credentials that expire within the hour, tagged with one merchant) and the idempotency-key HMAC
secret derived from KMS. Today the functions fill both lazily, on the first request, so the
snapshot holds neither; the hook keeps it so if an initialisation warm-up is ever added (priming
clients is the usual SnapStart optimisation): after a restore the caches are dropped, so the next
request assumes a fresh merchant session and derives the secret again with KMS (one call each).

The hook uses ``snapshot_restore_py``, which Lambda's Python 3.12+ runtime provides; elsewhere
(tests, local runs) there is no restore and nothing is registered.
"""
from __future__ import annotations

from . import aws, cardsec


def reset_after_restore() -> None:
    """Drop the cached clients, merchant sessions and derived secrets (they are rebuilt on demand)."""
    aws.reset_clients()   # also the merchant sessions (payments_core.tenancy)
    cardsec.reset_derived_secrets()


def register() -> bool:
    """Register :func:`reset_after_restore` with the runtime; False where there is no SnapStart runtime."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:
        return False
    register_after_restore(reset_after_restore)
    return True
