#!/usr/bin/env python
"""cdktf app: the payment platform stack for one environment (``payments-<env>``) and the two stacks of
the account it lives in: the state-bucket bootstrap stack (``payments-state``) and the account stack
(``payments-account``: API Gateway's logging role, the object trail and, with
PAYMENTS_GITHUB_REPOSITORY set, the CI identities); with ``dr_region`` set, the warm standby of the
request path in that region (``payments-<env>-<dr_region>``); with PAYMENTS_GUARDRAILS_TARGETS set, the
organisation's guardrails (``payments-guardrails``, applied in the management account).
docs/operators/accounts.md says which to apply when.

Environment: ``environmentSuffix`` in cdktf.json context, overridden by ENVIRONMENT_SUFFIX.
"""

from __future__ import annotations

import modules  # noqa: F401  (first: enables the fast provider import, see modules/provider_loader.py)
from cdktf import App

from modules.platform import place_lock_file
from modules.settings import SettingsError, build_settings, load_cdktf_context
from modules.stacks.account_stack import AccountStack
from modules.stacks.guardrails import GuardrailsStack
from modules.stacks.payment_stack import PaymentStack
from modules.stacks.standby_stack import StandbyStack
from modules.stacks.state_stack import StateBucketStack


def build_app(app: App | None = None) -> App:
    """Build (not synthesize) the app; tests and benchmarks call this too."""
    app = app or App()
    context = load_cdktf_context()
    # `cdktf synth --context environmentSuffix=...` (or an App built with context) wins over the file.
    suffix = app.node.try_get_context("environmentSuffix")
    if suffix is not None:
        context["environmentSuffix"] = suffix
    settings = build_settings(context)
    PaymentStack(app, settings)
    if settings.dr_region:
        StandbyStack(app, settings)
    StateBucketStack(app, settings)
    AccountStack(app, settings)
    if settings.guardrail_targets:
        GuardrailsStack(app, settings)
    return app


def synth(app: App) -> None:
    """``app.synth()``, then the committed provider lock file into every stack directory (what
    ``cdktf deploy``/``diff`` and ``terraform init`` in cdktf.out/stacks/<stack> then use)."""
    app.synth()
    place_lock_file(app.outdir)


if __name__ == "__main__":
    try:
        app = build_app()
    except SettingsError as err:  # one line naming the setting, not a jsii traceback
        raise SystemExit(f"error: {err}") from None
    synth(app)
