"""Security gate: checkov finds nothing on the prod, state, account and guardrails stacks; every skip has a
written reason.

The policy (which checks are skipped, and why) lives in one file, ``.checkov.yaml``. dev relaxes
deletion protection and log retention through settings on purpose, so the gate scans prod, the
environment that handles real money, the state-bucket stack and the account stack (trail, API
Gateway's logging role, CI identities: scanned as prod's account synthesizes it, with a repository).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import GATED_STACKS
from tests.support import CHECKOV, PROJECT_ROOT, Synthesized, clean_env

CONFIG = PROJECT_ROOT / ".checkov.yaml"
CHECKOV_VERSION = "3.3.30"
CHECK_ID = re.compile(r"^\s*-\s*(CKV2?_[A-Z0-9]+_\d+)\s*(?:#\s*(.*))?$")


@pytest.mark.parametrize("stack_name", GATED_STACKS)
def test_checkov_finds_no_failed_check(checkov_reports, stack_name):
    report = checkov_reports[stack_name]
    failed = report.get("results", {}).get("failed_checks", [])
    ids = sorted({f"{c['check_id']} {c['resource']} ({c['check_name']})" for c in failed})
    assert report["summary"]["failed"] == 0, f"{stack_name}: failed checks:\n" + "\n".join(ids)


@pytest.mark.parametrize("stack_name", GATED_STACKS)
def test_checkov_parsed_and_ran_checks(checkov_reports, stack_name):
    summary = checkov_reports[stack_name]["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0


def skipped_checks(text: str) -> dict[str, str]:
    """``skip-check`` ids -> reason: the comment block directly above the id, or a trailing comment."""
    reasons: dict[str, str] = {}
    in_list, comment = False, []
    for line in text.splitlines():
        stripped = line.strip()
        if not line.startswith((" ", "-", "#")) and stripped:
            in_list, comment = stripped.startswith("skip-check:"), []
            continue
        if not in_list:
            continue
        match = CHECK_ID.match(line)
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("#").strip())
        elif match:
            check_id, trailing = match.groups()
            # Consecutive ids share the comment block above the first of them.
            reasons[check_id] = (trailing or " ".join(comment)).strip()
        elif stripped:
            raise AssertionError(f".checkov.yaml: unexpected line in skip-check: {line!r}")
        if not stripped:
            comment = []
    return reasons


def test_every_skipped_check_has_a_written_reason():
    reasons = skipped_checks(CONFIG.read_text())
    assert reasons, "no skip-check list found in .checkov.yaml"
    short = {k: v for k, v in reasons.items() if len(v.split()) < 8}
    assert not short, f"skips without a reason of at least a sentence: {short}"


def test_reason_parser_reads_blocks_and_trailing_comments():
    text = "skip-download: true\nskip-check:\n  # shared reason for two\n  - CKV_AWS_1\n  - CKV2_AWS_2\n" \
           "  - CKV_AWS_3  # own reason\n\n  - CKV_AWS_4\n"
    assert skipped_checks(text) == {"CKV_AWS_1": "shared reason for two", "CKV2_AWS_2": "shared reason for two",
                                    "CKV_AWS_3": "own reason", "CKV_AWS_4": ""}


def test_skip_list_is_the_config_the_scan_used():
    """The config parses as YAML to the same ids the reason check read (no id hidden from it)."""
    import yaml
    config = yaml.safe_load(CONFIG.read_text())
    assert set(config["skip-check"]) == set(skipped_checks(CONFIG.read_text()))


def test_every_bucket_aborts_incomplete_uploads(synth_all):
    """What CKV_AWS_300 checks (3.1.47 misread the filter; 3.3.30 passes it), asserted independently."""
    for name in GATED_STACKS:
        stack = Synthesized(synth_all / "prod" / "stacks" / name / "cdk.tf.json")
        lifecycles = {c["bucket"]: c for c in stack.resources("aws_s3_bucket_lifecycle_configuration").values()}
        for bucket in stack.resources("aws_s3_bucket"):
            config = lifecycles.get(f"${{aws_s3_bucket.{bucket}.id}}")
            assert config, f"{name}: bucket {bucket} has no lifecycle configuration"
            assert any(r["status"] == "Enabled" and r.get("abort_incomplete_multipart_upload")
                       and r.get("filter") == [{"prefix": ""}] for r in config["rule"]), config["rule"]


def test_gate_runs_the_pinned_checkov_version():
    proc = subprocess.run([str(CHECKOV), "--version"], capture_output=True, text=True, env=clean_env())
    assert proc.stdout.strip() == CHECKOV_VERSION, proc.stdout + proc.stderr
    assert f"checkov=={CHECKOV_VERSION}\n" in (PROJECT_ROOT / "requirements-checkov.txt").read_text()


def test_object_access_of_protected_buckets_is_recorded_by_cloudtrail(synth_all):
    """What CKV_AWS_18 (skipped: it accepts only server access logs, see .checkov.yaml) is meant to
    ensure: every object-level event, read or write, of the state bucket and of every audit bucket
    lands in the account trail's log bucket (the trail is in payments-account, see modules/trail.py)."""
    account = Synthesized(synth_all / "prod" / "stacks" / "payments-account" / "cdk.tf.json")
    state = Synthesized(synth_all / "prod" / "stacks" / "payments-state" / "cdk.tf.json")
    prod = Synthesized(synth_all / "prod" / "stacks" / "payments-prod" / "cdk.tf.json")
    trail = account.one("aws_cloudtrail")
    assert trail["enable_log_file_validation"] is True and trail["enable_logging"] is True
    assert trail["kms_key_id"].startswith("${aws_kms_key.")
    [selector] = trail["advanced_event_selector"]
    fields = {f["field"]: f for f in selector["field_selector"]}
    assert set(fields) == {"eventCategory", "resources.type", "resources.ARN"}  # no readOnly filter
    assert fields["eventCategory"]["equals"] == ["Data"]
    assert fields["resources.type"]["equals"] == ["AWS::S3::Object"]
    partition_arn = "arn:${data.aws_partition.partition.partition}:s3:::"
    recorded = [p.removeprefix(partition_arn) for p in fields["resources.ARN"]["starts_with"]]
    # The state buckets (named after the account they are in): the state region's and, for prod's
    # standby, the DR region's (the trail is multi-Region).
    state_buckets = [b["bucket"] + "/" for b in state.resources("aws_s3_bucket").values()]
    assert len(state_buckets) == 2 and recorded[:2] == sorted(state_buckets, key=lambda b: "us-west-2" in b)
    # The audit bucket and its replica in the DR region.
    audit_buckets = [b["bucket"] for b in prod.resources("aws_s3_bucket").values()]
    assert len(audit_buckets) == 2 and trail["is_multi_region_trail"] is True
    for audit in audit_buckets:
        assert any(audit.startswith(p) for p in recorded[2:]), (audit, recorded)
