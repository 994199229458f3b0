"""Offline deploy rehearsal: deploy, re-diff, smoke-test and destroy a stack against a local AWS endpoint.

``python -m scripts.rehearse [--environment dev]`` (``make rehearse``):

1. starts its own ``moto_server`` on a free loopback port (stopped again whatever happens);
2. synthesizes the app with ``PAYMENTS_AWS_ENDPOINT`` pointing at it and a rehearsal state bucket;
3. bootstraps the ``payments-state`` stack in the background as ``make bootstrap`` does
   (scripts/bootstrap.py: apply with local state, then ``-migrate-state`` into the bucket it made),
   and runs it a second time, which must converge through the S3 backend; as soon as the bucket
   exists, a second background thread applies the account stack ``payments-account`` (API Gateway's
   logging role and setting, the object trail, the CI identities; S3 backend). The deploy's S3
   backend needs only the bucket, which exists within seconds, while the provider waits a minute
   on each bucket's lifecycle configuration; the rehearsal joins both before the no-change diff and
   checks that the state object is SSE-KMS under the state key's alias, no local copy is left, and
   API Gateway's account setting names the account stack's role. (An operator applies the account
   stack before any environment; the endpoint checks neither that the boundary the environment's
   roles name exists nor that the account has a logging role before a stage logs, so the rehearsal
   runs them side by side to save a minute.) The environment lives in moto's default account,
   which every provider pins (allowed_account_ids);
4. ``cdktf deploy payments-<env> --auto-approve`` (S3 backend with lock file on the endpoint); beside
   it, in a working copy of the stack, the reviewed plan: what a pull request's plan job shows for
   a stack that does not exist yet (a plan against an empty state), which must be all creates and
   pass the plan-review gate; the deploy must create exactly its resources;
5. checks the applied API's authorizer and scopes and onboards a merchant with
   ``scripts/merchants.py`` (scripts/rehearse_identity.py); neither the command's output nor the
   Terraform state may carry the client secret or the API key value; then ``make canary-onboard``
   (twice: the second changes nothing) onboards the synthetic merchant, marked so in the registry;
6. smoke-tests the payment flow against the deployed table and bucket (``smoke_test``), each call
   with the authorizer context API Gateway builds from that merchant's access token; then the
   ledger's tamper-and-repair story (``tamper_and_reconcile``: a forced MODIFY, a deleted audit
   object, reconcile reports both, audit replay restores the object, reconcile is clean); then the
   canary's own handler pays through every route as the synthetic merchant (``canary_smoke``,
   scripts/rehearsal/canary.py: a local stand-in serves the token endpoint and the API, checking the
   endpoint's app client, API key and usage plan), its ledger row marked synthetic, and fails with
   the merchant suspended; then offboards both merchants. Beside these phases (boto3 only), the Terraform work: ``cdktf diff``
   must report no changes, then the destroy plan is saved; and in another working copy, a plan
   with another account's credentials is refused before it reads anything;
7. destroys the environment (Terraform: the gate must refuse the saved destroy plan until every
   stateful address is allowed; then that plan is applied) and checks that API Gateway still logs
   with the account stack's role (an environment owns no region-wide setting). The state and
   account stacks stay, as they do in an account: the endpoint is thrown away;

and prints a short report: resource count, seconds per phase, the exclusion list of
``modules/rehearsal.py``. Exits non-zero on any failure. Nothing is cached between runs: the app is
synthesized afresh and the work directory (``build/rehearsal/<env>``) is recreated. Terraform comes
from ``scripts/terraform.py`` (PAYMENTS_PROVIDER_MIRROR for an offline provider mirror); the cdktf
CLI from ``node_modules/.bin`` on the project's Node 22.

This file owns the orchestration and the CLI; the parts are in ``scripts/rehearsal/``: ``endpoint``
(moto_server, environments), ``runners`` (synth, terraform, cdktf, plans), ``state`` (the bootstrap
check), ``smoke`` (smoke test, migration checks), ``ledger_smoke`` (reconcile and audit replay), ``report``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from scripts import bootstrap, plan_summary  # noqa: E402
from scripts.rehearsal.accounts import ACCOUNT_ID, check_api_logging, refuse_other_account  # noqa: E402
from scripts.rehearsal.common import (  # noqa: E402,F401  (re-exported: tests read them from here)
    ACCOUNT_STACK, EXCLUSIONS, STATE_STACK, Exclusion, RehearsalError, _rehearsal, exclusion_for, log,
)
from scripts.rehearsal.endpoint import MotoServer, endpoint_env  # noqa: E402,F401
from scripts.rehearsal.report import Report, exclusions_in  # noqa: E402
from scripts.rehearsal.runners import (  # noqa: E402,F401
    BESIDE, PARALLELISM, Background, Cdktf, Terraform, cdktf_env, count_resources, empty_bucket, no_changes,
    plugin_cache, read_plan, read_steps, review_create_plan, saved_plan, state_addresses, synth_app, synthesize,
    wait_for_bucket, wait_for_object, working_copy,
)
from scripts.rehearsal.state import check_bootstrap  # noqa: E402
from scripts.rehearsal.ledger_smoke import tamper_and_reconcile  # noqa: E402
from scripts.rehearsal.smoke import (  # noqa: E402,F401
    MIGRATION_SETTINGS, SmokeContext, migration_settings, migration_smoke, smoke_test,
)
from scripts.rehearsal.canary import canary_smoke  # noqa: E402
from scripts.rehearse_identity import (  # noqa: E402
    Merchant, check_api_authorization, offboard_merchant, onboard_canary, onboard_merchant)

WORK_ROOT = PROJECT_ROOT / "build" / "rehearsal"
# What Terraform prints for a plan without any change (resources and outputs).
NO_CHANGES = "No changes. Your infrastructure matches the configuration."
# The account stack's CI identities are rehearsed too (OIDC provider, boundary, plan and deploy roles).
REPOSITORY = "acme/payments-cdktf"


def rehearse(environment: str, workdir: Path, report: Report, port: int | None = None) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    logs = workdir / "logs"
    state_bucket = f"payments-rehearsal-state-{environment}"
    server = MotoServer(logs / "moto.log", port)
    state_apply = account_apply = review = terraform_beside = None
    stopping = threading.Event()  # set when the main line ends: background waits give up
    try:
        with report.phase("endpoint") as note:
            server.start()
            report.endpoint = server.url
            note.append(server.url)
        with report.phase("synth") as note:
            migration = migration_settings(server.url)
            stacks = synthesize(workdir / "synth", environment, server.url, state_bucket,
                                {**migration, "PAYMENTS_ACCOUNT_ID": ACCOUNT_ID,
                                 "PAYMENTS_GITHUB_REPOSITORY": REPOSITORY})
            stack_dir, state_dir = stacks / f"payments-{environment}", stacks / STATE_STACK
            account_dir = stacks / ACCOUNT_STACK
            stack_json = json.loads((stack_dir / "cdk.tf.json").read_text())
            state_json = json.loads((state_dir / "cdk.tf.json").read_text())
            report.resources, report.types = count_resources(stack_json), len(stack_json.get("resource", {}))
            report.state_resources = count_resources(state_json)
            report.account_resources = count_resources(json.loads((account_dir / "cdk.tf.json").read_text()))
            report.excluded_here = exclusions_in(stack_json)
            note.append(f"{report.resources} + {report.state_resources} + {report.account_resources} resources")
        region = str(stack_json["provider"]["aws"][0]["region"])
        env = endpoint_env(server.url, region)
        env["TF_PLUGIN_CACHE_DIR"] = str(plugin_cache())
        account_tf = Terraform(account_dir, env, logs / "account", niceness=BESIDE)
        tf = Terraform(stack_dir, env, logs / "stack")

        local_state = workdir / "payments-state.tfstate"
        cdktf = Cdktf(stacks.parent, cdktf_env(env), logs / "stack")
        stack_name = f"payments-{environment}"
        boto = SmokeContext(environment, region, server.url, {}, {}).boto
        s3 = boto("s3")

        bootstrapped: list[str] = []

        def bootstrap_state_stack() -> None:
            # make bootstrap, then make bootstrap again: "bootstrapped", then "converged".
            for _run in range(2):
                bootstrapped.append(bootstrap.bootstrap(state_dir, env, local_state, log=lambda _: None))

        def apply_account_stack() -> None:
            # make deploy-account: its state goes to the bucket the bootstrap has just made.
            account_tf("init", "init", "-input=false")
            account_tf("apply", "apply", "-auto-approve", "-input=false", PARALLELISM)

        # In working copies of the stack, beside the bootstrap and the deploy: the reviewed plan of a
        # new stack (what the plan-review gate reads before anything exists: a plan against an
        # empty state); then, once the deploy has written the stack's first state (its apply then
        # waits on Aurora for a minute), a plan with another account's credentials, refused before
        # any read.
        reviewed: list[plan_summary.Change] = []
        refused: list[str] = []

        def review_then_other_account() -> None:
            reviewed.extend(review_create_plan(stack_dir, workdir / "review", env, logs))
            wait_for_object(s3, state_bucket, str(bootstrap.s3_backend(stack_dir)["key"]), stopping)
            refused.append(refuse_other_account(working_copy(stack_dir, workdir / "other-account", initialized=True),
                                                env, boto("sts"), logs / "stack", niceness=BESIDE))

        review = Background(review_then_other_account)
        state_apply = Background(bootstrap_state_stack)
        with report.phase("state-apply") as note:
            state_apply.start()
            review.start()
            wait_for_bucket(s3, state_bucket, state_apply)
            account_apply = Background(apply_account_stack)
            account_apply.start()
            note.append(f"bucket {state_bucket} exists; the state and account stacks' applies go on "
                        "beside the deploy")
        with report.phase("apply") as note:
            cdktf("deploy", "deploy", stack_name, "--auto-approve")
            review.join_result()
            totals = plan_summary.totals(reviewed)
            created = totals["create"]
            if not created or set(+totals) != {"create"} or plan_summary.blocked_changes(reviewed):
                raise RehearsalError(f"create plan of a new stack: {dict(totals)}; "
                                     f"gate: {plan_summary.blocked_changes(reviewed)}")
            # cdktf deploy plans on its own (it cannot apply a saved plan): what it created must be
            # exactly what the gate reviewed.
            deployed = {a for a in state_addresses(tf) if not a.startswith("data.")}
            wanted = {c.address for c in reviewed}
            if deployed != wanted:
                raise RehearsalError(f"deployed resources differ from the reviewed plan: "
                                     f"not reviewed {sorted(deployed - wanted)[:10]}, "
                                     f"missing {sorted(wanted - deployed)[:10]}")
            note.append(f"plan gate passed ({created} creates), cdktf deploy created exactly those")
        with report.phase("state-join") as note:
            note.append(f"state stack bootstrapped in {state_apply.join_result():.1f}s, account stack applied in "
                        f"{account_apply.join_result():.1f}s, beside the deploy")
            note.append(check_bootstrap(s3, state_dir, local_state, bootstrapped))
            account_outputs = json.loads(account_tf("output", "output", "-json").stdout)
            logging_role = account_outputs["api-logging-role-arn"]["value"]
            note.append(check_api_logging(boto("apigateway"), boto("iam"), logging_role, "account stack applied"))
        # Beside the merchant phases (boto3 only), in the stack's directory: `cdktf diff` must find no
        # change, then the destroy plan is made (no refresh: the diff has just refreshed every
        # resource, and the merchant phases touch only data, which no resource's attributes hold).
        drift: list[str] = []
        destroy_plan: list[plan_summary.Change] = []

        def diff_then_destroy_plan() -> None:
            diff = cdktf("diff", "diff", stack_name)
            # Terraform says "No changes." only for a plan that changes no resource and no output;
            # otherwise the saved plan's JSON says what would change.
            if NO_CHANGES not in diff.stdout:
                drift.extend(no_changes(json.loads(tf("show-diff", "show", "-json", "plan").stdout))
                             or [f"cdktf diff did not say {NO_CHANGES!r}"])
                return
            forget = sorted(a for a in deployed if exclusion_for(a, "keep_on_destroy"))
            if forget:  # one command: each terraform run loads the provider's schema again
                tf("state-rm", "state", "rm", *forget)
            destroy_plan.extend(saved_plan(tf, "destroy", ["-destroy", "-refresh=false"]))

        terraform_beside = Background(diff_then_destroy_plan)
        terraform_beside.start()
        outputs = {k: v.get("value") for k, v in json.loads(tf("output", "output", "-json").stdout).items()}
        ctx = SmokeContext(environment, region, server.url, outputs, stack_json)
        with report.phase("onboard") as note:
            note.append(check_api_authorization(ctx))
            ctx.merchant = onboard_merchant(ctx, endpoint_env(server.url, region), stack_dir, env)
            note.append(f"merchant {ctx.merchant.name} client {ctx.merchant.client_id}, registered with API key "
                        f"{ctx.merchant.api_key_id}; no secret in output or state")
            canary = onboard_canary(ctx, endpoint_env(server.url, region))
            note.append(f"synthetic merchant {canary['merchant']} client {canary['client_id']} (make canary-onboard, "
                        "twice: the second changed nothing)")
        with report.phase("smoke") as note:
            smoke_test(ctx)
            tamper_and_reconcile(ctx)
            migration_smoke(ctx, migration)
            canary_smoke(ctx, canary)
            for line in ctx.results:
                log(f"[rehearsal]   {line}")
            note.append(f"ok ({len(ctx.results)} checks)")
        with report.phase("offboard") as note:
            note.append(offboard_merchant(ctx, endpoint_env(server.url, region), ctx.merchant))
            note.append(offboard_merchant(ctx, endpoint_env(server.url, region), Merchant(
                canary["merchant"], canary["client_id"], tuple(canary["scopes"]), canary["secret_name"])))
        with report.phase("plan") as note:
            terraform_beside.join_result()
            if drift:
                raise RehearsalError("cdktf diff after deploy is not empty (drift):\n" + "\n".join(drift))
            note.append("no changes")
        with report.phase("other-account") as note:
            note.extend(refused)
        with report.phase("destroy") as note:
            # The plan-review gate must refuse this plan (it deletes tables, buckets, the cluster,
            # the keys) unless every stateful address is named; then that exact plan is applied,
            # which still calls Delete on every resource and fails on any it cannot delete.
            blocked = [c.address for c in plan_summary.blocked_changes(destroy_plan)]
            if not blocked or plan_summary.blocked_changes(destroy_plan, blocked):
                raise RehearsalError(f"destroy plan: the gate blocked {blocked or 'nothing'}")
            tf("destroy", "apply", "-input=false", PARALLELISM, "destroy.tfplan")
            note.append(f"plan gate blocked {len(blocked)} stateful deletions until allowed")
            note.append(check_api_logging(boto("apigateway"), boto("iam"), logging_role,
                                          f"payments-{environment} destroyed"))
    finally:
        stopping.set()
        for background in (state_apply, account_apply, review, terraform_beside):
            if background is not None and background.is_alive():
                background.join(timeout=300)  # let its terraform finish before the endpoint goes
        server.stop()
        report.steps = read_steps(logs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environment", default="dev", help="environment to rehearse (default dev)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="work directory (default build/rehearsal/<environment>)")
    parser.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    parser.add_argument("--report-json", type=Path, help="also write the report as JSON to this file")
    parser.add_argument("--synth-into", type=Path, help=argparse.SUPPRESS)  # internal: synth step
    args = parser.parse_args(argv)
    if args.synth_into:
        synth_app(args.synth_into)
        return 0
    report = Report(args.environment)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)  # so `finally` stops moto_server and terraform
    try:
        rehearse(args.environment, args.workdir or WORK_ROOT / args.environment, report, args.port)
    except (RehearsalError, RuntimeError, OSError, KeyError, ValueError) as err:
        report.failure = report.failure or str(err)
        log(f"[rehearsal] FAILED: {err}")
    except KeyboardInterrupt as err:
        report.failure = report.failure or f"interrupted ({err or 'SIGINT'})"
    log(report.text())
    if args.report_json:
        args.report_json.write_text(json.dumps(report.to_json(), indent=2))
    return 1 if report.failure else 0


if __name__ == "__main__":
    sys.exit(main())
