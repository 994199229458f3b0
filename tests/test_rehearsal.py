"""The offline deploy rehearsal (scripts/rehearse.py, modules/rehearsal.py).

* the exclusion mechanism: rehearsal synth carries exactly the overrides EXCLUSIONS asks for,
  production synth has no ignore_changes and no count anywhere;
* state locking is real: while one terraform holds the S3 lock file of the project's backend on a
  local endpoint, a second one is refused with a lock error, and gets through once it is released;
* the whole rehearsal (marked ``rehearsal``: minutes) of a pull request's preview exits 0 with the
  reviewed plan, ``cdktf deploy payments-pr42 --auto-approve``, an empty ``cdktf diff``, the smoke
  test and the destroy all done. A preview is dev's stack with dev's settings in dev's account under
  another name, and the environment created and destroyed most often: destroying it must leave the
  account's API Gateway logging with the account stack's role (``make rehearse`` rehearses dev).

Everything runs from the repo; only PAYMENTS_PROVIDER_MIRROR (an offline provider mirror) comes from
outside, for the full rehearsal.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from scripts import rehearse, terraform
from tests.support import PROJECT_ROOT, Synthesized, clean_env, synth_environments

UNREACHABLE = "http://127.0.0.1:1"
Exclusion = rehearse.Exclusion


@pytest.fixture(scope="module")
def rehearsal_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dev`` synthesized in rehearsal mode (the endpoint is never contacted by synth)."""
    return synth_environments(tmp_path_factory.mktemp("rehearsal-synth"), ["dev"],
                              PAYMENTS_AWS_ENDPOINT=UNREACHABLE,
                              PAYMENTS_STATE_BUCKET="payments-rehearsal-state-dev") / "dev"


def resources(stack: Synthesized) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for rtype, by_name in stack.json.get("resource", {}).items():
        for name, body in by_name.items():
            yield rtype, name, body


# --------------------------------------------------------------------------- exclusion mechanism


def test_exclusions_are_well_formed() -> None:
    rehearse._rehearsal.validate()
    targets = [e.target for e in rehearse.EXCLUSIONS]
    assert len(targets) == len(set(targets)), "one entry per target"
    for e in rehearse.EXCLUSIONS:
        assert e.resource_type.startswith("aws_") and e.reason and e.error


def test_overrides_follow_the_exclusion_list() -> None:
    entries = [Exclusion("aws_x.a", "r", "e"), Exclusion("aws_x.b", "r", "e"),
               Exclusion("aws_gone", "r", "e", kind="not_emulated"),
               Exclusion("aws_kept", "r", "e", kind="keep_on_destroy")]
    overrides_for = rehearse._rehearsal.overrides_for
    assert overrides_for("aws_x", ["tags"], entries) == {"lifecycle.ignore_changes": ["a", "b", "tags"]}
    assert overrides_for("aws_gone", None, entries) == {"count": 0}
    assert overrides_for("aws_kept", None, entries) == {}
    assert overrides_for("aws_other", None, entries) == {}
    with pytest.raises(ValueError, match="needs an attribute"):
        rehearse._rehearsal.validate([Exclusion("aws_x", "r", "e")])
    with pytest.raises(ValueError, match="needs a resource type"):
        rehearse._rehearsal.validate([Exclusion("aws_x.a", "r", "e", kind="not_emulated")])


def test_rehearsal_synth_differs_from_production_by_the_exclusions_only(
        rehearsal_synth: Path, stack: Synthesized) -> None:
    """``stack`` is conftest's production-mode synth of dev. Every resource of the rehearsal synth is
    the production one plus exactly what ``overrides_for`` asks for (the aspect covers resources
    whatever module adds them), and nothing else changes."""
    rehearsal = Synthesized(rehearsal_synth / "stacks" / "payments-dev" / "cdk.tf.json")
    production = {(t, n): body for t, n, body in resources(stack)}
    assert {(t, n) for t, n, _ in resources(rehearsal)} == set(production)
    matched = 0
    for rtype, name, body in resources(rehearsal):
        prod = production[(rtype, name)]
        prod_ignored = prod.get("lifecycle", {}).get("ignore_changes")
        wanted = rehearse._rehearsal.overrides_for(rtype, prod_ignored)
        assert body.get("count") == wanted.get("count", prod.get("count")), f"{rtype}.{name}"
        assert body.get("lifecycle", {}).get("ignore_changes") == \
            wanted.get("lifecycle.ignore_changes", prod_ignored), f"{rtype}.{name}"
        strip = lambda b: {k: v for k, v in b.items() if k not in ("count", "lifecycle", "//")}  # noqa: E731
        assert strip(body) == strip(prod), f"{rtype}.{name} differs beyond its overrides"
        matched += bool(wanted)
    assert matched, "no resource of the stack matched an exclusion: is the aspect applied?"
    assert rehearse.exclusions_in(rehearsal.json)


def test_production_synth_carries_no_exclusion(stack: Synthesized) -> None:
    """Production never gets a rehearsal override: no count, no excluded attribute ignored (modules
    may ignore other attributes for their own reasons, e.g. a CodeDeploy-managed alias version)."""
    assert not [f"{t}.{n}" for t, n, body in resources(stack) if "count" in body]
    for rtype, name, body in resources(stack):
        ignored = set(body.get("lifecycle", {}).get("ignore_changes") or [])
        excluded = {e.attribute for e in rehearse.EXCLUSIONS if e.resource_type == rtype and e.attribute}
        assert not ignored & excluded, f"{rtype}.{name} ignores {ignored & excluded} in production"
    assert "127.0.0.1" not in stack.text


# --------------------------------------------------------------------------- state locking

RELEASE_TIMEOUT_S = 45


def lock_config(backend: dict[str, Any], workdir: Path, release: Path) -> Path:
    """A provider-less config on the project's S3 backend: apply blocks until ``release`` exists."""
    workdir.mkdir(parents=True)
    wait = (f"for i in $(seq {RELEASE_TIMEOUT_S * 10}); do [ -e '{release}' ] && exit 0; sleep 0.1; done; "
            "exit 1")
    (workdir / "main.tf.json").write_text(json.dumps({
        "terraform": {"backend": backend},
        "resource": {"terraform_data": {"hold": {
            "input": "lock",
            "provisioner": [{"local-exec": {"command": wait}}],
        }}},
    }, indent=1))
    return workdir


def test_state_lock_refuses_a_second_terraform(rehearsal_synth: Path, tmp_path: Path) -> None:
    backend = json.loads((rehearsal_synth / "stacks" / "payments-dev" / "cdk.tf.json").read_text())[
        "terraform"]["backend"]
    assert backend["s3"]["use_lockfile"] is True
    release = tmp_path / "release"
    with rehearse.MotoServer(tmp_path / "moto.log", aws_managed_policies=False) as server:
        s3 = rehearse.SmokeContext("dev", "us-east-1", server.url, {}, {}).boto("s3")
        s3.create_bucket(Bucket=backend["s3"]["bucket"])
        backend["s3"]["endpoints"] = {"s3": server.url, "sts": server.url}
        env = rehearse.endpoint_env(server.url, "us-east-1")
        first = lock_config(backend, tmp_path / "first", release)
        second = lock_config(backend, tmp_path / "second", release)
        for workdir in (first, second):
            terraform.run(workdir, ["init", "-input=false", "-no-color"], env=env)
        lock_key = f"{backend['s3']['key']}.tflock"

        holder = subprocess.Popen(
            ["terraform", "apply", "-auto-approve", "-input=false", "-no-color"], cwd=first,
            env=terraform.terraform_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 30
            while not s3.list_objects_v2(Bucket=backend["s3"]["bucket"], Prefix=lock_key).get("KeyCount"):
                assert holder.poll() is None, f"holder exited early:\n{holder.communicate()[0]}"
                assert time.monotonic() < deadline, "the holder never wrote its lock file"
                time.sleep(0.1)
            lock = json.loads(s3.get_object(Bucket=backend["s3"]["bucket"], Key=lock_key)["Body"].read())
            assert lock["Operation"] == "OperationTypeApply"

            for command in (["plan"], ["apply", "-auto-approve"]):
                refused = terraform.run(second, [*command, "-input=false", "-no-color", "-lock-timeout=0s"],
                                        env=env, check=False)
                assert refused.returncode == 1, refused.stdout
                assert "Error acquiring the state lock" in refused.stdout, refused.stdout
                assert "412" in refused.stdout or "PreconditionFailed" in refused.stdout, refused.stdout
                assert lock["ID"] in refused.stdout, "the refusal names the holder's lock"
        finally:
            release.touch()
            out, _ = holder.communicate(timeout=RELEASE_TIMEOUT_S + 30)
        assert holder.returncode == 0, out
        assert not s3.list_objects_v2(Bucket=backend["s3"]["bucket"], Prefix=lock_key).get("KeyCount")
        after = terraform.run(second, ["plan", "-input=false", "-no-color", "-lock-timeout=0s",
                                       "-detailed-exitcode"], env=env, check=False)
        assert after.returncode == 0, after.stdout  # lock released; the holder's apply is in the state


# --------------------------------------------------------------------------- the full rehearsal


def test_each_command_of_a_phase_is_timed_in_order_for_the_report(tmp_path: Path) -> None:
    from scripts.rehearsal.report import Report
    from scripts.rehearsal.runners import Terraform, read_steps
    logs = tmp_path / "logs"
    tf = Terraform(tmp_path, clean_env(), logs / "stack")
    tf("version", "version")
    tf("version-json", "version", "-json")
    steps = read_steps(logs)
    assert [what for what, _ in steps] == ["terraform version (version)", "terraform version (version-json)"]
    assert all(seconds >= 0 for _, seconds in steps)
    report = Report("dev", steps=steps)
    assert report.to_json()["steps"] == [[what, seconds] for what, seconds in steps]


# The environment the suite rehearses: a preview (see the module docstring).
PREVIEW = "pr42"


@pytest.mark.rehearsal
def test_full_rehearsal(tmp_path: Path) -> None:
    env = clean_env()
    env.setdefault("JSII_NODE", str(PROJECT_ROOT / "node_modules" / ".bin" / "node"))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.rehearse", "--environment", PREVIEW, "--workdir", str(tmp_path / "work")],
        cwd=PROJECT_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=900)
    report = proc.stdout[proc.stdout.rfind("rehearsal report:"):]
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert report.rstrip().endswith("rehearsal: OK"), report
    phases = {line.split()[0]: line for line in report.splitlines()[3:] if line.startswith("  ") and
              not line.startswith("    ")}
    for phase in ("endpoint", "synth", "state-apply", "apply", "state-join", "plan", "onboard", "smoke",
                  "offboard", "other-account", "destroy"):
        assert phase in phases and "FAILED" not in phases[phase], report
    assert phases["plan"].endswith("no changes"), report  # `cdktf diff` after `cdktf deploy`
    # make bootstrap, twice, beside the deploy: local state moved into its own bucket, SSE-KMS under
    # the key the backend names (scripts/rehearsal/state.py), nothing left on disk, then a no-op.
    assert f"make bootstrap: state in s3://payments-rehearsal-state-{PREVIEW}/payments/state/terraform.tfstate " \
           "(SSE-KMS, arn:aws:kms:us-east-1:123456789012:alias/payment-terraform-state), no local copy; " \
           "run again: converged" in phases["state-join"], report
    # Account per environment: the account stack owns API Gateway's logging role; a plan with another
    # account's credentials stops on allowed_account_ids before reading anything; destroying the
    # environment leaves API Gateway logging with the account's role.
    assert "account stack applied: API Gateway logs with payment-apigw-cloudwatch-us-east-1 (exists)" \
        in phases["state-join"], report
    assert "refused ('AWS account ID not allowed: 111111111111'), nothing read" in phases["other-account"], report
    assert f"payments-{PREVIEW} destroyed: API Gateway logs with payment-apigw-cloudwatch-us-east-1 (exists)" \
        in phases["destroy"], report
    # `cdktf diff` wrote the plan the gate passed; `cdktf deploy` created exactly its resources.
    assert "plan gate passed (" in phases["apply"] and "cdktf deploy created exactly those" in phases["apply"], report
    assert "plan gate blocked" in phases["destroy"], report  # the real destroy plan was refused first
    assert "ok (" in phases["smoke"], report
    # the applied API checks tokens and scopes; the merchant's credentials reached neither log nor state
    assert "on 3 routes, one scope each" in phases["onboard"], report
    assert "no secret in output or state" in phases["onboard"], report
    assert "removed (client, key, plan, secret; registry item marked removed)" in phases["offboard"], report
    assert ", registered with API key " in phases["onboard"], report
    # the merchant registry refuses the merchant's token with another merchant's API key id
    assert "another API key id is refused 403 API_KEY_NOT_BOUND, nothing stored" in proc.stdout
    assert "resources:" in report and "exclusions (" in report
    for e in rehearse.EXCLUSIONS:
        assert e.target in report
    assert "process: transaction" in proc.stdout and "audit: 1 object" in proc.stdout
    assert "as merchant client " in proc.stdout
    # issue 20: a forced MODIFY and a deleted audit object are both reported, replay restores, clean
    assert "(digest_differs) and deleted object of" in proc.stdout and "second reconcile clean" in proc.stdout
    # issue 22: the synthetic merchant, onboarded by make canary-onboard (twice), its handler paying through
    # every route as that merchant, its payment marked, a refused merchant failing the run; then offboarded
    assert "(make canary-onboard, twice: the second changed nothing)" in phases["onboard"], report
    assert "passed every step as synthetic merchant" in proc.stdout and "its one ledger row is marked synthetic" in proc.stdout
    assert "the run fails at validate (403 MERCHANT_SUSPENDED), CanarySuccess 0" in proc.stdout
    assert "health check watches payment-canary-alarm-" in proc.stdout
    assert phases["offboard"].count("removed (client, key, plan, secret; registry item marked removed)") == 2, report
    print(report, f"\n(wall {time.monotonic() - started:.0f}s)")


def test_endpoints_started_side_by_side_each_answer_for_themselves(tmp_path: Path) -> None:
    """Each endpoint binds its own free port (a port picked first and bound later could be taken by
    another test's endpoint meanwhile, and the rehearsal would then deploy into that one)."""
    import boto3

    servers = [rehearse.MotoServer(tmp_path / f"moto-{n}.log", aws_managed_policies=False) for n in (1, 2)]
    with servers[0] as one, servers[1] as two:
        assert one.port and two.port and one.port != two.port
        s3 = {s.url: boto3.client("s3", endpoint_url=s.url, region_name="us-east-1", aws_access_key_id="test",
                                  aws_secret_access_key="test") for s in (one, two)}
        s3[one.url].create_bucket(Bucket="only-on-one")
        assert [b["Name"] for b in s3[one.url].list_buckets()["Buckets"]] == ["only-on-one"]
        assert s3[two.url].list_buckets()["Buckets"] == []
