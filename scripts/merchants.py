"""Merchant onboarding and offboarding: one OAuth2 app client, API key and usage plan per merchant.

    make merchant-add NAME=acme ENVIRONMENT_SUFFIX=dev [SCOPES=payments/validate,payments/process]
    make merchant-remove NAME=acme ENVIRONMENT_SUFFIX=dev
    make merchant-list ENVIRONMENT_SUFFIX=dev
    make merchant-suspend NAME=acme ENVIRONMENT_SUFFIX=dev     (and merchant-resume, merchant-register)
    make canary-onboard ENVIRONMENT_SUFFIX=dev                 (the synthetic merchant; idempotent)
    make merchant-standby NAME=acme ENVIRONMENT_SUFFIX=prod    (its client in the DR region's standby)
    python -m scripts.merchants {add,remove,list,suspend,resume,register,canary} [NAME] [--environment ENV] ...

``add`` creates, for merchant NAME in the environment's user pool and API stage (found through the
SSM parameters the stack writes, see modules/parameters.py):

* a Cognito app client ``payment-merchant-<name>-<env>``: client-credentials grant only, the granted
  ``payments/*`` scopes, a generated secret, short-lived access tokens;
* an API key and a usage plan of the same name (throttle and daily quota from the settings or the
  flags), the plan linked to the API stage, both tagged ``Merchant=<name>``;
* a Secrets Manager secret ``payment/merchants/<env>/<name>`` encrypted with the platform key,
  holding the client secret and the API key value: the only place they are ever written;
* an item in the merchant registry (``payment-merchant-registry-<env>``, scripts/merchant_registry.py):
  client id, API key id, usage plan, status ``active``. The API functions serve a client only while
  its item is active and only with the API key recorded there.

``canary`` onboards the environment's synthetic merchant (setting ``canary_merchant``, modules/canary.py)
as ``add`` does, marked ``synthetic`` in the registry and with a small usage plan; it does nothing
when that merchant is onboarded already, and refuses a real merchant of that name.

``suspend`` / ``resume`` flip the registry status (active <-> suspended) and delete nothing; the
functions see the change within their registry cache time (30 s). ``register`` records a merchant
onboarded before the registry existed.

It prints the client id, the token endpoint and the command that fetches the secret; never the
secret itself. These credentials are not Terraform resources on purpose: whatever Terraform creates
has its attributes (the client secret, the key value) in state.

With a DR region whose standby is deployed, ``add`` and ``canary`` also give the merchant its app
client, API key (same value) and usage plan in the standby, keyed by the same merchant id, with both
regions' credentials in its secret, replicated there (scripts/merchant_standby.py); ``standby`` does
that for a merchant onboarded before; suspend, resume and remove act in both regions.

``remove`` marks the registry item ``removed`` (kept as the record of the client and key the merchant
held), then cuts the merchant off at API Gateway (its API key leaves its usage plan and is deleted, so calls
are refused from then on, even with an access token that has not expired yet: API Gateway checks a
token's signature and expiry, not whether its client still exists), then deletes the plan, the app
client and the secret. It removes whatever part exists, so it also cleans up a partial add.

Errors are one line on stderr with exit status 1: unknown merchant, merchant exists already, the
environment not deployed, a bad name or scope. ``add`` is all or nothing: a failure part-way
deletes what it created. Settings (environment, region, throttle defaults, PAYMENTS_AWS_ENDPOINT for
a local endpoint) come from modules/settings.py like everything else.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts import merchant_standby  # noqa: E402
from scripts.plain_modules import import_plain  # noqa: E402
from scripts.merchant_registry import RegistryError  # noqa: E402
from scripts.merchant_resources import (  # noqa: E402
    CANARY_LIMITS, TRANSITIONS, Aws, MerchantError, Onboarded, PlanLimits, add, change_status, check_name,
    list_merchants, load_environment, onboard_canary, register, remove,
)

# Registry changes: action -> (function, past tense for the report).
STATUS_ACTIONS = {**{action: (functools.partial(change_status, action=action), TRANSITIONS[action][3])
                     for action in TRANSITIONS},
                  "register": (register, "registered")}


# --------------------------------------------------------------------------- command line


def render(result: Onboarded) -> str:
    return "\n".join([
        f"merchant {result.merchant} onboarded in {result.environment}",
        f"  client id       {result.client_id}",
        f"  token endpoint  {result.token_endpoint}",
        f"  scopes          {' '.join(result.scopes)} (access tokens valid {result.token_minutes} min)",
        f"  api url         {result.api_url}",
        f"  usage plan      {result.usage_plan_id}: {result.rate_limit:g} req/s, burst {result.burst_limit}, "
        f"{result.quota_per_day} requests/day",
        f"  api key id      {result.api_key_id}",
        "The client secret and the API key value are not shown. Fetch them once, hand them to the",
        "merchant over a trusted channel (they are needed for the token request and the x-api-key header):",
        f"  {result.fetch_secret}",
    ])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.merchants", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("add", "remove", "list", "canary", "standby", *STATUS_ACTIONS))
    parser.add_argument("merchant", nargs="?", default="",
                        help="merchant name (all but list; canary: default the setting canary_merchant)")
    parser.add_argument("--environment", help="environment (default ENVIRONMENT_SUFFIX, cdktf.json, dev)")
    parser.add_argument("--endpoint-url", help="AWS endpoint, e.g. a local moto server "
                                               "(default PAYMENTS_AWS_ENDPOINT; empty: real AWS)")
    parser.add_argument("--scopes", help="comma-separated scopes to grant (default: all of `payments`)")
    parser.add_argument("--rate-limit", type=float, help="requests/second (default merchant_rate_limit)")
    parser.add_argument("--burst-limit", type=int, help="burst (default merchant_burst_limit)")
    parser.add_argument("--quota-per-day", type=int, help="requests/day (default api_quota_per_day)")
    parser.add_argument("--token-minutes", type=int,
                        help="access token lifetime (default merchant_token_validity_minutes)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser.parse_args(argv)


def limits_from(args: argparse.Namespace, settings: Any) -> PlanLimits:
    limits = PlanLimits(
        rate_limit=settings.merchant_rate_limit if args.rate_limit is None else args.rate_limit,
        burst_limit=settings.merchant_burst_limit if args.burst_limit is None else args.burst_limit,
        quota_per_day=settings.api_quota_per_day if args.quota_per_day is None else args.quota_per_day,
        token_minutes=(settings.merchant_token_validity_minutes if args.token_minutes is None
                       else args.token_minutes))
    if not 0 < limits.rate_limit <= settings.api_rate_limit or not 0 < limits.burst_limit <= settings.api_burst_limit:
        raise MerchantError(f"throttle {limits.rate_limit:g}/{limits.burst_limit} must be above 0 and at most "
                            f"the stage's {settings.api_rate_limit}/{settings.api_burst_limit}")
    if limits.quota_per_day <= 0:
        raise MerchantError("--quota-per-day must be positive")
    if not 5 <= limits.token_minutes <= 1440:
        raise MerchantError("--token-minutes must be 5..1440 (Cognito's range)")
    return limits


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings_module = import_plain("settings")
    try:
        env_vars = {**os.environ, "ENVIRONMENT_SUFFIX": args.environment} if args.environment else None
        settings = settings_module.build_settings(settings_module.load_cdktf_context(), env_vars)
        aws = Aws(settings.region, args.endpoint_url or settings.aws_endpoint)
        if args.action == "canary":
            args.merchant = args.merchant or settings.canary_merchant
        if args.action != "list":
            check_name(args.merchant)
        env = load_environment(aws, settings.environment, settings.region)
        # The DR region's standby, when deployed: every merchant has a client there too
        # (scripts/merchant_standby.py); notes say what was done there or what is left to do.
        standby = merchant_standby.standby_of(settings, args.endpoint_url or settings.aws_endpoint)
        notes: list[str] = []
        if settings.dr_region and standby is None and args.action in ("add", "canary", "standby"):
            notes.append(f"note: the standby in {settings.dr_region} is not deployed: after deploying it, "
                         f"`make merchant-standby NAME={args.merchant}` gives the merchant its client there")
        if args.action == "add":
            scopes = [s.strip() for s in args.scopes.split(",") if s.strip()] if args.scopes else None
            result = add(aws, env, args.merchant, scopes, limits_from(args, settings))
            if standby:
                notes.append(merchant_standby.add_to_standby(aws, env, standby, args.merchant,
                                                             limits_from(args, settings))[1])
            print(json.dumps(asdict(result), indent=2) if args.json else render(result))
        elif args.action == "canary":
            onboarded, line = onboard_canary(aws, env, args.merchant)
            if standby:
                notes.append(merchant_standby.add_to_standby(aws, env, standby, args.merchant, CANARY_LIMITS)[1])
            print(json.dumps({"merchant": args.merchant, "onboarded": onboarded is not None,
                              **(asdict(onboarded) if onboarded else {})}) if args.json else line)
        elif args.action == "standby":
            if standby is None:
                raise MerchantError(f"{env.name} has no deployed standby (dr_region {settings.dr_region or 'unset'})")
            print(merchant_standby.add_to_standby(aws, env, standby, args.merchant, limits_from(args, settings))[1])
        elif args.action in STATUS_ACTIONS:
            action, done = STATUS_ACTIONS[args.action]
            print(f"{args.action} merchant {args.merchant} in {env.name} (registry {env.registry_table})",
                  file=sys.stderr)
            lines = action(aws, env, args.merchant)
            if standby and args.action in TRANSITIONS:
                lines += merchant_standby.change_status(standby, args.merchant, args.action)
            print(json.dumps({"merchant": args.merchant, args.action: lines}) if args.json else
                  "\n".join([f"merchant {args.merchant} {done} in {env.name}", *(f"  {l}" for l in lines)]))
        elif args.action == "remove":
            lines = merchant_standby.unreplicate(aws, env.name, args.merchant)
            if standby:
                lines += merchant_standby.remove_from_standby(standby, args.merchant)
            lines = remove(aws, env, args.merchant) + lines
            print(json.dumps({"merchant": args.merchant, "removed": lines}) if args.json else
                  "\n".join([f"merchant {args.merchant} removed from {env.name}", *(f"  {l}" for l in lines)]))
        else:
            rows = list_merchants(aws, env)
            print(json.dumps(rows, indent=2) if args.json else "\n".join(
                [f"{len(rows)} merchant(s) in {env.name}"] +
                [f"  {r['merchant']:<24} {r['client_id']}  {r['status']:<12} {' '.join(r['scopes'])}  "
                 f"plan {r['usage_plan_id']}{'  (synthetic)' if r['synthetic'] else ''}"
                 for r in rows]))
        for note in notes:
            print(note, file=sys.stderr)
        return 0
    except (MerchantError, RegistryError, settings_module.SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
    except Exception as err:
        print(f"error: {aws_error(err)}", file=sys.stderr)
    return 1


def aws_error(err: Exception) -> str:
    """One line for an AWS failure. A parameter validation error quotes the parameter's value (it
    could be the secret), so only its type is shown; anything that is not an AWS error propagates."""
    from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError  # noqa: PLC0415

    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"AWS {error.get('Code')}: {error.get('Message')} ({err.operation_name})"
    if isinstance(err, ParamValidationError):
        return "invalid AWS request parameters (details withheld: they may carry credentials)"
    if isinstance(err, BotoCoreError):
        return f"AWS {type(err).__name__}: {err}"
    raise err


if __name__ == "__main__":
    sys.exit(main())
