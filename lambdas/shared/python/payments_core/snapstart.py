"""What must not outlive a SnapStart restore: each module that caches it registers a hook here.

With SnapStart, Lambda initialises a published version once, snapshots the memory, and starts every
new execution environment from that snapshot. Anything cached in memory at snapshot time is then
shared by all of them, for as long as the version lives: the merchants' STS sessions (temporary
credentials that expire within the hour, tagged with one merchant; payments_core.tenancy), the
idempotency-key HMAC secret derived from KMS (payments_core.cardsec) and the boto3 clients
(payments_core.aws). Today all three are filled lazily, on the first request, so a snapshot holds
none; the hooks keep it so if an initialisation warm-up is ever added (priming clients is the usual
SnapStart optimisation): after a restore the caches are dropped, and the next request assumes a
fresh merchant session and derives the secret again with KMS (one call each).

Lambda's Python 3.12+ runtime provides ``snapshot_restore_py``; elsewhere (tests, local runs) the
hooks are only kept, and :func:`restored` runs them as the runtime would.
"""
from __future__ import annotations

from typing import Callable

Hook = Callable[[], None]
_hooks: list[Hook] = []


def after_restore(hook: Hook) -> Hook:
    """Run ``hook`` after every SnapStart restore (a decorator, applied at import, in the init phase)."""
    _hooks.append(hook)
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:
        return hook
    register_after_restore(hook)
    return hook


def restored() -> None:
    """What the runtime does after a restore: every registered hook, in registration order."""
    for hook in list(_hooks):
        hook()


def runtime_available() -> bool:
    try:
        import snapshot_restore_py  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True
