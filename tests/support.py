"""Helpers shared by the tests: synthesize in a clean environment, read synthesized JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# checkov's own venv (requirements-checkov.txt, built by `make deps`): its pins conflict with .venv's.
CHECKOV = PROJECT_ROOT / ".tools" / "checkov" / "bin" / "checkov"
# Settings that would leak from a developer's shell or CI into a synth under test.
SETTING_PREFIXES = ("PAYMENTS_", "ENVIRONMENT_SUFFIX", "REPOSITORY", "COMMIT_AUTHOR", "PR_NUMBER", "TEAM")
KEEP = ("PAYMENTS_PROVIDER_MIRROR",)
# The settings operators of three accounts synthesize with: an account per environment (dev's is
# ACCOUNT), the state reader allow-list and the CI identities of the account stack.
ACCOUNT = "123456789012"
ACCOUNTS = {"dev": ACCOUNT, "staging": "234567890123", "prod": "345678901234"}
BUCKET = f"payments-terraform-state-{ACCOUNT}-us-east-1"
READER = f"arn:aws:iam::{ACCOUNT}:role/payments-break-glass"
REPOSITORY = "acme/payments-cdktf"
ACCOUNT_SETTINGS = {"PAYMENTS_ENVIRONMENT_ACCOUNTS": ",".join(f"{e}={a}" for e, a in ACCOUNTS.items()),
                    "PAYMENTS_STATE_READER_ARNS": READER, "PAYMENTS_GITHUB_REPOSITORY": REPOSITORY}
# Production serves only on its custom domain (settings rule): the name and its ACM certificate.
API_DOMAIN = "api.payments.example.com"
API_CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
# With its DR region (us-west-2), the certificate there and the zone of the failover records.
DR_API_CERTIFICATE = "arn:aws:acm:us-west-2:123456789012:certificate/1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"
HOSTED_ZONE = "Z0123456789ABCDEFGHIJ"
# The DMS user of a migration into a global database (which has no master secret: modules/global_database.py).
DMS_TARGET_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:payment/dms-target-prod-AbCdEf"
PROD_SETTINGS = {"PAYMENTS_API_DOMAIN_NAME": API_DOMAIN, "PAYMENTS_API_CERTIFICATE_ARN": API_CERTIFICATE,
                 "PAYMENTS_DR_API_CERTIFICATE_ARN": DR_API_CERTIFICATE, "PAYMENTS_DR_HOSTED_ZONE_ID": HOSTED_ZONE}
# The organisation's guardrails (payments-guardrails stack), synthesized beside prod in the tests.
MANAGEMENT_ACCOUNT = "111122223333"
GUARDRAIL_TARGETS = ("ou-ab12-cd34ef56", ACCOUNT)
GUARDRAIL_SETTINGS = {"PAYMENTS_GUARDRAILS_TARGETS": ",".join(GUARDRAIL_TARGETS),
                      "PAYMENTS_MANAGEMENT_ACCOUNT_ID": MANAGEMENT_ACCOUNT}
# What each environment is synthesized with in every test synth unless the caller sets it.
ENVIRONMENT_SETTINGS = {"prod": {**PROD_SETTINGS, **GUARDRAIL_SETTINGS}}


def environment_env(environment: str, **env: str) -> dict[str, str]:
    """Variables that build ``environment``'s settings as the test synths do (``env`` on top)."""
    return {"ENVIRONMENT_SUFFIX": environment, **ENVIRONMENT_SETTINGS.get(environment, {}), **env}


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k in KEEP or not k.startswith(SETTING_PREFIXES)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(overrides)
    return env


def synth_environments(outdir: Path, environments: Iterable[str], **env: str) -> Path:
    """Synthesize in a fresh process (as a user would), return ``outdir``. ``env`` goes to every
    environment; ENVIRONMENT_SETTINGS to its own (``env`` wins)."""
    environments = list(environments)
    per_environment = [f"--set={name}:{var}={value}" for name in environments
                       for var, value in ENVIRONMENT_SETTINGS.get(name, {}).items() if var not in env]
    subprocess.run(
        [sys.executable, "-m", "scripts.synth", "--outdir", str(outdir), *per_environment, *environments],
        cwd=PROJECT_ROOT, env=clean_env(**env), check=True, capture_output=True, text=True,
    )
    return outdir


class Synthesized:
    """One synthesized stack (cdk.tf.json) with lookups by resource type."""

    def __init__(self, path: Path):
        self.path = path
        self.text = path.read_text()
        self.json: dict[str, Any] = json.loads(self.text)

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        return self.json.get("resource", {}).get(rtype, {})

    def one(self, rtype: str, **match: Any) -> dict[str, Any]:
        found = [r for r in self.resources(rtype).values()
                 if all(r.get(k) == v for k, v in match.items())]
        assert len(found) == 1, f"expected one {rtype} matching {match}, found {len(found)}"
        return found[0]

    def ref(self, rtype: str, attribute: str, **match: Any) -> str:
        """The ``${type.name.attr}`` reference of the one resource matching ``match``."""
        names = [n for n, r in self.resources(rtype).items()
                 if all(r.get(k) == v for k, v in match.items())]
        assert len(names) == 1, f"expected one {rtype} matching {match}, found {names}"
        return f"${{{rtype}.{names[0]}.{attribute}}}"

    def policy(self, resource: dict[str, Any], key: str = "policy") -> dict[str, Any]:
        return json.loads(resource[key])


def statement(policy: dict[str, Any], sid: str) -> dict[str, Any]:
    found = [s for s in policy["Statement"] if s.get("Sid") == sid]
    assert len(found) == 1, f"no statement {sid} in {[s.get('Sid') for s in policy['Statement']]}"
    return found[0]


def synthesized(stacks: Path, name: str) -> Synthesized:
    """The stack ``name`` under a synthesized ``stacks`` folder."""
    return Synthesized(stacks / name / "cdk.tf.json")


def read_botocore_data_once_per_process() -> None:
    """Tests build their clients in fresh moto contexts, so in fresh boto3 sessions (moto
    replaces boto3's default one; payments_core drops its own), and botocore caches the endpoint
    rules and service models it reads from disk per session: the suite read the same JSON files
    thousands of times (a third of the handler tests' time). Here they are read once per test process (the files do not change while
    it runs, and botocore treats what it loaded as read-only, as it does within one session)."""
    import botocore.loaders

    if getattr(botocore.loaders.JSONFileLoader.load_file, "read_once", False):
        return
    read = botocore.loaders.JSONFileLoader.load_file
    listed = botocore.loaders.Loader.list_available_services
    files: dict[str, object] = {}
    services: dict[tuple[tuple[str, ...], str], list[str]] = {}

    def load_file(self: object, file_path: str) -> object:
        if file_path not in files:
            files[file_path] = read(self, file_path)
        return files[file_path]

    def list_available_services(self: botocore.loaders.Loader, type_name: str) -> list[str]:
        key = (tuple(self.search_paths), type_name)
        if key not in services:
            services[key] = listed(self, type_name)
        return list(services[key])

    load_file.read_once = True  # type: ignore[attr-defined]
    botocore.loaders.JSONFileLoader.load_file = load_file  # type: ignore[method-assign]
    botocore.loaders.Loader.list_available_services = list_available_services  # type: ignore[method-assign]


CHECKOV_CONFIG = PROJECT_ROOT / ".checkov.yaml"


def checkov_scan(paths: Iterable[Path]) -> dict[Path, dict[str, Any]]:
    """checkov (the pinned version, the project's .checkov.yaml) over Terraform JSON files, in one
    run: its start-up is most of a stack's scan. Returns each file's report as a one-file run
    reports it: ``results`` (failed, passed and skipped checks) and ``summary`` (their counts and
    the file's parsing errors)."""
    paths = [Path(p).resolve() for p in paths]
    proc = subprocess.run(
        [str(CHECKOV), *(arg for path in paths for arg in ("-f", str(path))), "--framework", "terraform_json",
         "--config-file", str(CHECKOV_CONFIG), "-o", "json"],
        cwd=PROJECT_ROOT, env=clean_env(), capture_output=True, text=True,
    )
    assert proc.returncode in (0, 1), f"checkov crashed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    results = (report[0] if isinstance(report, list) else report)["results"]

    def of(path: Path, kind: str) -> list[dict[str, Any]]:
        return [c for c in results.get(kind, []) if (PROJECT_ROOT / c["file_abs_path"]).resolve() == path]

    reports = {}
    for path in paths:
        checks = {kind: of(path, kind) for kind in ("failed_checks", "passed_checks", "skipped_checks")}
        parsing = [e for e in results.get("parsing_errors", []) if (PROJECT_ROOT / e).resolve() == path]
        reports[path] = {"results": checks, "summary": {
            "failed": len(checks["failed_checks"]), "passed": len(checks["passed_checks"]),
            "skipped": len(checks["skipped_checks"]), "parsing_errors": len(parsing)}}
    counted = sum(r["summary"]["failed"] + r["summary"]["passed"] + r["summary"]["skipped"] for r in reports.values())
    listed = sum(len(results.get(k, [])) for k in ("failed_checks", "passed_checks", "skipped_checks"))
    assert counted == listed, f"checks of files not scanned? {listed - counted} unattributed"
    return reports


def _migration_synth_settings() -> dict[str, str]:
    from scripts.rehearsal.smoke import MIGRATION_SETTINGS

    # Dev has no dashboard by default (docs/maintainers/cost.md); the migration's row needs one.
    return {**MIGRATION_SETTINGS, "PAYMENTS_CUTOVER_HOSTED_ZONE_ID": MIGRATION_ZONE, "PAYMENTS_DASHBOARD_ENABLED": "true"}


MIGRATION_ZONE = "Z0123456789ABCDEFGHIJ"
# dev with the migration on, as the suite synthesizes it once per run (conftest ``migration_synth``).
MIGRATION_SYNTH_SETTINGS = _migration_synth_settings()
