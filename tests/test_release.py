"""The release command against real botocore clients with Stubber (moto has no CodeDeploy deployments)."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from scripts import release

FN = "payment-process-dev"


@pytest.fixture()
def clients():
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    lam, cd = session.client("lambda"), session.client("codedeploy")
    with Stubber(lam) as lam_stub, Stubber(cd) as cd_stub:
        yield lam, cd, lam_stub, cd_stub
        lam_stub.assert_no_pending_responses()
        cd_stub.assert_no_pending_responses()


def _versions(stub, function, current, versions):
    stub.add_response("get_alias", {"FunctionVersion": current, "Name": "live"},
                      {"FunctionName": function, "Name": "live"})
    stub.add_response("list_versions_by_function",
                      {"Versions": [{"Version": v} for v in ["$LATEST", *versions]]}, {"FunctionName": function})


def _deployment(stub, deployment_id, statuses, rollback=""):
    for status in statuses:
        info = {"deploymentId": deployment_id, "status": status}
        if rollback and status == statuses[-1]:
            info["rollbackInfo"] = {"rollbackMessage": rollback}
        stub.add_response("get_deployment", {"deploymentInfo": info}, {"deploymentId": deployment_id})


def test_appspec_moves_live_from_current_to_target():
    spec = json.loads(release.app_spec(release.Plan(FN, "3", "4")))
    props = spec["Resources"][0][FN]["Properties"]
    assert spec["Resources"][0][FN]["Type"] == "AWS::Lambda::Function"
    assert props == {"Name": FN, "Alias": "live", "CurrentVersion": "3", "TargetVersion": "4"}
    assert "Hooks" not in spec


def test_appspec_carries_the_pre_traffic_hook():
    spec = json.loads(release.app_spec(release.Plan(FN, "3", "4"), "payment-smoke-dev"))
    assert spec["Hooks"] == [{"BeforeAllowTraffic": "payment-smoke-dev"}]


def test_changed_function_is_deployed_and_success_is_reported(clients):
    lam, cd, lam_stub, cd_stub = clients
    _versions(lam_stub, FN, "3", ["1", "2", "3", "10"])  # numeric, not lexical, newest
    cd_stub.add_response("create_deployment", {"deploymentId": "d-OK"}, {
        "applicationName": "payment-release-dev", "deploymentGroupName": FN,
        "description": f"{FN}: live 3 -> 10",
        "revision": {"revisionType": "AppSpecContent",
                     "appSpecContent": {"content": release.app_spec(release.Plan(FN, "3", "10"))}}})
    _deployment(cd_stub, "d-OK", ["InProgress", "Succeeded"])
    [outcome] = release.release(lam, cd, "payment-release-dev", [FN], poll=0, sleep=lambda _: None)
    assert (outcome.status, outcome.deployment_id, outcome.ok) == ("Succeeded", "d-OK", True)


def test_rollback_is_reported_and_fails_the_release(clients, capsys, monkeypatch):
    lam, cd, lam_stub, cd_stub = clients
    _versions(lam_stub, FN, "3", ["3", "4"])
    cd_stub.add_response("create_deployment", {"deploymentId": "d-BAD"})
    _deployment(cd_stub, "d-BAD", ["InProgress", "Stopped"], rollback="Alarm payment-process-errors-alarm-dev")
    [outcome] = release.release(lam, cd, "payment-release-dev", [FN], poll=0, sleep=lambda _: None)
    assert outcome.status == "Stopped" and not outcome.ok
    assert "payment-process-errors-alarm-dev" in outcome.detail


def test_unchanged_function_starts_no_deployment(clients):
    lam, cd, lam_stub, _ = clients
    _versions(lam_stub, FN, "4", ["3", "4"])
    [outcome] = release.release(lam, cd, "payment-release-dev", [FN], poll=0, sleep=lambda _: None)
    assert outcome.status == "Unchanged" and outcome.ok


def test_timeout_counts_as_failure(clients):
    _, cd, _, cd_stub = clients
    _deployment(cd_stub, "d-SLOW", ["InProgress"])
    ticks = iter([0, 100])
    outcomes = release.wait(cd, {FN: "d-SLOW"}, timeout=10, poll=0, sleep=lambda _: None, clock=lambda: next(ticks))
    assert [o.status for o in outcomes] == ["TimedOut"] and not outcomes[0].ok


def test_main_exits_non_zero_on_rollback(monkeypatch, capsys):
    outcomes = [release.Outcome("payment-process-dev", "Stopped", "d-1", "alarm"),
                release.Outcome("payment-validate-dev", "Succeeded", "d-2")]
    monkeypatch.setattr(release, "release", lambda *a, **k: outcomes)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    assert release.main(["--environment", "dev"]) == 1
    assert "rolled back or failed: payment-process-dev" in capsys.readouterr().out


def test_unpublished_function_is_an_error(clients):
    lam, _, lam_stub, _ = clients
    lam_stub.add_response("list_versions_by_function", {"Versions": [{"Version": "$LATEST"}]}, {"FunctionName": FN})
    with pytest.raises(RuntimeError, match="no published version"):
        release.newest_version(lam, FN)
