"""Generated documentation: every page in ``scripts.docs.GENERATED`` is exactly what its generator
prints from the code and the synthesized stacks (the suite's once-per-run synths), and every alarm's
description links to its own section of the alarm runbook, which has no section without an alarm."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from modules import settings as settings_module
from modules.settings import Settings, SettingsError, build_settings
from modules.settings_rules import RULES
from scripts import docs, markdown
from tests.conftest import ENVIRONMENTS
from tests.support import ACCOUNTS, ACCOUNT_SETTINGS, PROJECT_ROOT, Synthesized

RUNBOOK = PROJECT_ROOT / "docs" / "operators" / "alarms.md"
RUNBOOK_LINK = re.compile(r"Runbook: (?P<base>\S*?(?P<page>docs/operators/[a-z0-9-]+\.md))#(?P<anchor>[a-z0-9_-]+)$")
# Pages besides the alarm runbook that own the runbook of their concern's alarms (a "## Runbook" part).
CONCERN_RUNBOOKS = (PROJECT_ROOT / "docs" / "operators" / "slos.md",
                    PROJECT_ROOT / "docs" / "operators" / "disaster-recovery.md")


@pytest.fixture(scope="module")
def optional_synths(migration_synth: Path) -> list[Path]:
    """The stacks of dev with the optional parts on that no environment has by default: the suite's
    once-per-run migration synth (conftest ``migration_synth``, as tests/test_migration.py reads it).
    The custom domain needs none: prod has it (it is required there), so its outputs are listed as
    prod's, whichever synth adds them too."""
    return [migration_synth]


def test_the_suite_synthesizes_every_optional_part_the_generator_does(prod_stack: Synthesized) -> None:
    assert sorted(docs.OPTIONAL_PARTS) == ["api_domain_name", "migration_enabled"]  # optional_synths above
    assert prod_stack.resources("aws_api_gateway_domain_name"), "prod has the custom domain (its outputs)"


def _rendered(path: str, request: pytest.FixtureRequest) -> str:
    if path == docs.OUTPUTS_PAGE:  # from the suite's synths rather than new ones
        return docs.render_outputs(request.getfixturevalue("synth_all"), request.getfixturevalue("account_synth"),
                                   request.getfixturevalue("optional_synths"))
    return docs.GENERATED[path]()


@pytest.mark.parametrize("path", sorted(docs.GENERATED))
def test_generated_page_is_what_its_generator_prints(path: str, request: pytest.FixtureRequest) -> None:
    committed = PROJECT_ROOT / path
    assert committed.exists(), f"{path} is missing: run make docs"
    assert committed.read_text() == _rendered(path, request), f"{path} is stale: run make docs"


def _settings_rows(text: str) -> dict[str, list[str]]:
    rows = [line.strip("|").split(" | ") for line in text.splitlines() if line.startswith("| `")]
    return {row[0].strip(" `"): [c.strip() for c in row] for row in rows}


def test_settings_page_has_a_row_for_every_setting() -> None:
    rows = _settings_rows((PROJECT_ROOT / docs.SETTINGS_PAGE).read_text())
    assert list(rows) == [f.name for f in dataclasses.fields(Settings)]


def test_every_setting_has_its_rule_in_words() -> None:
    assert sorted(RULES) == sorted(f.name for f in dataclasses.fields(Settings))
    assert all(text.strip() for text in RULES.values())


def test_settings_page_follows_a_changed_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page is derived from the profiles, not copied: a new prod default shows in its column."""
    prod = {**settings_module.PROFILES["prod"], "log_retention_days": 400}
    monkeypatch.setitem(settings_module.PROFILES, "prod", prod)
    header = [c.strip() for c in docs.render_settings().split("| setting |")[1].splitlines()[0].strip("|").split("|")]
    row = _settings_rows(docs.render_settings())["log_retention_days"]
    assert row[header.index("prod") + 1] == "`400`"


@pytest.mark.parametrize("setting, variable, value", [
    ("nat_gateways", "PAYMENTS_NAT_GATEWAYS", "4"),
    ("api_rate_limit", "PAYMENTS_API_RATE_LIMIT", "-1"),
    ("merchant_token_validity_minutes", "PAYMENTS_MERCHANT_TOKEN_MINUTES", "2"),
    ("alarm_period_seconds", "PAYMENTS_ALARM_PERIOD_SECONDS", "45"),
    ("alarm_aurora_cpu_percent", "PAYMENTS_ALARM_AURORA_CPU_PERCENT", "0"),
    ("aurora_backup_retention_days", "PAYMENTS_AURORA_BACKUP_RETENTION_DAYS", "36"),
    ("dms_allocated_storage", "PAYMENTS_DMS_ALLOCATED_STORAGE", "1"),
    ("cdc_latency_threshold_seconds", "PAYMENTS_CDC_LATENCY_THRESHOLD_SECONDS", "0"),
])
def test_documented_rule_is_the_text_the_check_refuses_with(setting: str, variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        build_settings({}, {variable: value})
    assert refused.value.setting == setting and RULES[setting] in str(refused.value)


def test_every_output_says_what_it_is(synth_all: Path, account_synth: Path, optional_synths: list[Path]) -> None:
    """The outputs page is read by operators: no output without a description, in any stack."""
    files = [*synth_all.glob("*/stacks/*/cdk.tf.json"), *account_synth.glob("*/cdk.tf.json"),
             *(f for stacks in optional_synths for f in stacks.glob("*/cdk.tf.json"))]  # guardrails: beside prod
    undescribed = [f"{f.parent.name}:{name}" for f in files
                   for name, output in json.loads(f.read_text()).get("output", {}).items()
                   if not output.get("description")]
    assert files and not undescribed


def test_outputs_page_prints_names_never_values(synth_all: Path, account_synth: Path,
                                                optional_synths: list[Path]) -> None:
    page = docs.render_outputs(synth_all, account_synth, optional_synths)
    assert "${" not in page and "arn:aws" not in page
    assert not [account for account in ACCOUNTS.values() if account in page]
    stack = Synthesized(synth_all / "prod" / "stacks" / "payments-prod" / "cdk.tf.json")
    for name in stack.json["output"]:
        assert f"| `{name}` |" in page
    for parameter in stack.resources("aws_ssm_parameter").values():
        assert f"| `{parameter['name'].removesuffix('-prod')}-<env>` |" in page
    for name in ("migration-task-id",):  # optional parts only (prod has its custom domain: required there)
        assert re.search(rf"^\| `{name}` \|.*\| {docs.OPTIONAL} \|$", page, re.MULTILINE), name


# --------------------------------------------------------------------------- the alarm runbook

@pytest.fixture(scope="module")
def migration_stack(optional_synths: list[Path]) -> Synthesized:
    """dev with the migration on: the same once-per-run synth as tests/test_migration.py."""
    return Synthesized(optional_synths[0] / "payments-dev" / "cdk.tf.json")


def _paging_descriptions(stack: Synthesized) -> dict[str, str]:
    """Alarm (or paging rule) name -> description, for everything that notifies the alert topic."""
    found = {a["alarm_name"]: a["alarm_description"] for rtype in ("aws_cloudwatch_metric_alarm",
                                                                    "aws_cloudwatch_composite_alarm")
             for a in stack.resources(rtype).values() if a.get("alarm_actions")}
    # Rules on an event pattern page (the DMS task events); a schedule (the canary's runs) does not:
    # its verdict pages through the canary alarm.
    found.update({r["name"]: r["description"] for r in stack.resources("aws_cloudwatch_event_rule").values()
                  if r.get("event_pattern")})
    return found


def _runbook_sections() -> list[str]:
    """The anchors of the alarm sections: the ### headings of the alarm runbook, and those under the
    "## Runbook" part of the pages that own their concern's alarms."""
    sections = [markdown.slug(line[4:]) for line in markdown.markdown_lines(RUNBOOK.read_text()) if line.startswith("### ")]
    for page in CONCERN_RUNBOOKS:
        part = page.read_text().split("\n## Runbook\n", 1)[1].split("\n## ", 1)[0]
        sections += [markdown.slug(line[4:]) for line in markdown.markdown_lines(part) if line.startswith("### ")]
    return sections


@pytest.fixture(scope="module")
def all_alarms(synth_all: Path, account_synth: Path, migration_stack: Synthesized) -> dict[str, tuple[str, str]]:
    """Alarm name -> (its description, its name's suffix: the environment), over dev, staging, prod, prod's standby in
    us-west-2 (its names end with the region), the migration and an account."""
    stacks = {env: Synthesized(synth_all / env / "stacks" / f"payments-{env}" / "cdk.tf.json") for env in ENVIRONMENTS}
    stacks["prod-us-west-2"] = Synthesized(synth_all / "prod" / "stacks" / "payments-prod-us-west-2" / "cdk.tf.json")
    stacks["migration"] = migration_stack
    stacks["account"] = Synthesized(account_synth / "payments-dev" / "cdk.tf.json")
    alarms = {}
    for label, stack in stacks.items():
        environment = label if label in (*ENVIRONMENTS, "prod-us-west-2") else "dev"
        for name, description in _paging_descriptions(stack).items():
            alarms[f"{label}:{name}"] = (description, environment)
    return alarms


def test_every_alarm_description_links_to_its_runbook_section(all_alarms: dict[str, tuple[str, str]]) -> None:
    for key, (description, environment) in all_alarms.items():
        link = RUNBOOK_LINK.search(description)
        assert link, f"{key}: no runbook link in {description!r}"
        assert link["anchor"] == key.split(":", 1)[1].removesuffix(f"-{environment}"), key
        anchors = markdown.heading_anchors((PROJECT_ROOT / link["page"]).read_text())
        assert link["anchor"] in anchors, f"{key}: {link['page']} has no section #{link['anchor']}"
        assert len(description) <= 1024


def test_runbook_links_point_at_github_when_the_repository_is_known(all_alarms: dict[str, tuple[str, str]]) -> None:
    on_github = (f"https://github.com/{ACCOUNT_SETTINGS['PAYMENTS_GITHUB_REPOSITORY']}"
                 "/blob/main/docs/operators/alarms.md")
    links = {key: RUNBOOK_LINK.search(d) for key, (d, _env) in all_alarms.items()}
    bases = {key.split(":")[0]: link["base"] for key, link in links.items() if link["page"] == "docs/operators/alarms.md"}
    assert bases["account"] == on_github and bases["dev"] == bases["prod"] == "docs/operators/alarms.md"


def test_every_runbook_section_is_an_alarm_that_exists(all_alarms: dict[str, tuple[str, str]]) -> None:
    linked = {RUNBOOK_LINK.search(d)["anchor"] for d, _env in all_alarms.values()}
    sections = _runbook_sections()
    assert len(sections) == len(set(sections))
    assert sorted(set(sections) - linked) == [], "sections without an alarm (orphans)"


def test_a_description_over_the_limit_stops_synth() -> None:
    from modules.observability import with_runbook

    with pytest.raises(ValueError, match="limit 1024"):
        with_runbook(build_settings({}, {}), "api-5xx-alarm", "x" * 1000)


def test_descriptions_keep_their_text_before_the_link(all_alarms: dict[str, tuple[str, str]]) -> None:
    description, _env = all_alarms["prod:payment-api-5xx-alarm-prod"]
    assert description == ("API 5xx responses: payments are failing server-side. "
                           "Runbook: docs/operators/alarms.md#payment-api-5xx-alarm")
