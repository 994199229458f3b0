"""Release: shift each function's `live` alias to its newest published version through CodeDeploy.

Run after `cdktf deploy` (which publishes new versions but leaves the aliases alone):

    python -m scripts.release --environment dev [--function process ...] [--timeout 1800]

For every function whose newest version differs from what `live` serves, it starts one CodeDeploy
deployment with an AppSpec (current -> target version), waits for all of them, prints one line per
function and exits 1 if any deployment failed, stopped or rolled back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

FUNCTION_KEYS = ("validate", "fraud-check", "process", "audit-writer")
ALIAS = "live"
DONE = {"Succeeded", "Failed", "Stopped"}


@dataclass(frozen=True)
class Plan:
    function: str
    current: str
    target: str

    @property
    def changed(self) -> bool:
        return self.current != self.target


@dataclass(frozen=True)
class Outcome:
    function: str
    status: str                 # Succeeded | Failed | Stopped | Unchanged
    deployment_id: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("Succeeded", "Unchanged")


def app_spec(plan: Plan, pre_traffic_hook: Optional[str] = None) -> str:
    """The AppSpec CodeDeploy needs to move `live` from the current to the target version."""
    spec: dict[str, Any] = {
        "version": 0.0,
        "Resources": [{plan.function: {"Type": "AWS::Lambda::Function", "Properties": {
            "Name": plan.function, "Alias": ALIAS,
            "CurrentVersion": plan.current, "TargetVersion": plan.target}}}],
    }
    if pre_traffic_hook:
        spec["Hooks"] = [{"BeforeAllowTraffic": pre_traffic_hook}]
    return json.dumps(spec, sort_keys=True)


def newest_version(lambda_client: Any, function: str) -> str:
    versions = []
    for page in lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=function):
        versions += [int(v["Version"]) for v in page["Versions"] if v["Version"] != "$LATEST"]
    if not versions:
        raise RuntimeError(f"{function} has no published version; was it deployed with publish=true?")
    return str(max(versions))


def plan_release(lambda_client: Any, function: str) -> Plan:
    current = lambda_client.get_alias(FunctionName=function, Name=ALIAS)["FunctionVersion"]
    return Plan(function, current, newest_version(lambda_client, function))


def start(codedeploy: Any, application: str, plan: Plan, pre_traffic_hook: Optional[str] = None) -> str:
    response = codedeploy.create_deployment(
        applicationName=application, deploymentGroupName=plan.function,
        description=f"{plan.function}: {ALIAS} {plan.current} -> {plan.target}",
        revision={"revisionType": "AppSpecContent",
                  "appSpecContent": {"content": app_spec(plan, pre_traffic_hook)}},
    )
    return response["deploymentId"]


def wait(codedeploy: Any, deployments: dict[str, str], timeout: float, poll: float,
         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> list[Outcome]:
    """Poll until every deployment is done; a timeout counts as a failure, never as success."""
    pending, outcomes = dict(deployments), []
    deadline = clock() + timeout
    while pending:
        for function, deployment_id in list(pending.items()):
            info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            if info["status"] in DONE:
                rollback = info.get("rollbackInfo", {}).get("rollbackMessage", "")
                error = info.get("errorInformation", {}).get("message", "")
                outcomes.append(Outcome(function, info["status"], deployment_id, rollback or error))
                del pending[function]
        if pending:
            if clock() >= deadline:
                outcomes += [Outcome(f, "TimedOut", d, "still in progress") for f, d in pending.items()]
                break
            sleep(poll)
    return outcomes


def release(lambda_client: Any, codedeploy: Any, application: str, functions: Iterable[str], *,
            timeout: float = 1800, poll: float = 15, pre_traffic_hook: Optional[str] = None,
            sleep: Callable[[float], None] = time.sleep) -> list[Outcome]:
    plans = [plan_release(lambda_client, f) for f in functions]
    outcomes = [Outcome(p.function, "Unchanged", detail=f"{ALIAS} already at {p.current}")
                for p in plans if not p.changed]
    started = {p.function: start(codedeploy, application, p, pre_traffic_hook) for p in plans if p.changed}
    return outcomes + wait(codedeploy, started, timeout, poll, sleep)


def main(argv: Optional[list[str]] = None) -> int:
    import boto3

    from modules.settings import build_settings, load_cdktf_context

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environment", help="defaults to the project's environment setting")
    parser.add_argument("--function", action="append", choices=FUNCTION_KEYS,
                        help="release only these (repeatable); default: all")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--poll", type=float, default=15)
    parser.add_argument("--pre-traffic-hook", help="name of a BeforeAllowTraffic hook function")
    args = parser.parse_args(argv)
    env = {"ENVIRONMENT_SUFFIX": args.environment} if args.environment else None
    settings = build_settings(load_cdktf_context(), {**os.environ, **(env or {})})
    session = boto3.Session(region_name=settings.region)
    outcomes = release(session.client("lambda"), session.client("codedeploy"),
                       settings.name("release"), [settings.name(k) for k in (args.function or FUNCTION_KEYS)],
                       timeout=args.timeout, poll=args.poll, pre_traffic_hook=args.pre_traffic_hook)
    for o in outcomes:
        print(f"{o.function:<32} {o.status:<10} {o.deployment_id:<14} {o.detail}")
    failed = [o for o in outcomes if not o.ok]
    print("release rolled back or failed: " + ", ".join(o.function for o in failed) if failed
          else "release succeeded")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
