"""The generated documentation pages: each is printed by a function from the code it describes, never
kept by hand, so a reader never meets a table that drifted (the terraform-docs habit).

``python -m scripts.docs`` (``make docs``) writes every page in ``GENERATED``; ``--check`` writes
nothing and exits 1 naming the pages that differ (tests/test_docs.py does the same in the suite).
Markdown helpers (GitHub's anchors, tables): scripts/markdown.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import re
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from scripts.markdown import cell, generated_notice, prose, table  # noqa: E402

ENVIRONMENTS = ("dev", "staging", "prod")
PREVIEW = "pr42"  # any environment without a profile: what a pull request preview gets
SETTINGS_PAGE = "docs/maintainers/settings.md"
OUTPUTS_PAGE = "docs/operators/outputs.md"


# --------------------------------------------------------------------------- settings

def settings_by_environment() -> dict[str, object]:
    """The settings each environment gets from the defaults and cdktf.json, with no variable set."""
    from modules.settings import build_settings, load_cdktf_context

    context = load_cdktf_context()
    return {env: build_settings(context, {"ENVIRONMENT_SUFFIX": env, **required_variables(env)})
            for env in (*ENVIRONMENTS, PREVIEW)}


def required_variables(environment: str) -> dict[str, str]:
    """What an environment refuses to synthesize without (settings_rules: production's custom domain),
    as the suite's synths give it: well-formed stand-ins that only let the rest of the column resolve."""
    from tests.support import PROD_SETTINGS

    return dict(PROD_SETTINGS) if environment == "prod" else {}


def required_settings(environment: str) -> set[str]:
    """The settings the page prints as **required** in ``environment``'s column."""
    from modules.settings import ENV_VARS

    variables = required_variables(environment)
    return {name for name, variable in ENV_VARS.items() if variable in variables}


def field_comments(source: Path = PROJECT_ROOT / "modules" / "settings.py") -> dict[str, str]:
    """Setting -> the comment that documents it in ``Settings``: the comment on its line, else the
    comment lines right above it (a group's comment belongs to the group's first field)."""
    import ast
    import io
    import tokenize

    text = source.read_text()
    comments = {tok.start[0]: tok.string.lstrip("#").strip().lstrip("-").strip()
                for tok in tokenize.generate_tokens(io.StringIO(text).readline) if tok.type == tokenize.COMMENT}
    lines = text.splitlines()
    [cls] = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == "Settings"]
    found = {}
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        if node.lineno in comments and not lines[node.lineno - 1].lstrip().startswith("#"):
            found[node.target.id] = comments[node.lineno]
            continue
        above, row = [], node.lineno - 1
        while row in comments and lines[row - 1].lstrip().startswith("#"):
            above.insert(0, comments[row])
            row -= 1
        found[node.target.id] = " ".join(above)
    return found


def render_settings() -> str:
    """docs/maintainers/settings.md: one row per field of ``Settings``."""
    from modules.settings import ENV_VARS, ENVIRONMENT_VAR, RETIRED, TOOLING_VARS, Settings
    from modules.settings_rules import RULES

    resolved = settings_by_environment()
    required = {env: required_settings(env) for env in resolved}
    fields = [f for f in dataclasses.fields(Settings)]
    preview_differs = [f.name for f in fields if f.name != "environment"
                       and getattr(resolved[PREVIEW], f.name) != getattr(resolved["dev"], f.name)]
    columns = [*ENVIRONMENTS, *([PREVIEW] if preview_differs else [])]
    about = field_comments()
    rows = []
    for f in fields:
        variable = ENV_VARS.get(f.name, ENVIRONMENT_VAR if f.name == "environment" else "")
        rows.append([f"`{f.name}`", f"`{variable}`", f.type,
                     *("**required**" if f.name in required[env] else cell(getattr(resolved[env], f.name))
                       for env in columns),
                     prose(RULES[f.name]), prose(about[f.name])])
    preview = (f"Any other environment name (a pull request preview such as `{PREVIEW}`) gets dev's defaults: "
               "its column would repeat dev's." if not preview_differs else
               f"A preview (`{PREVIEW}`) differs from dev in {', '.join(preview_differs)}: see its column.")
    retired = "; ".join(f"`{var}` ({setting}): {hint}" for setting, (var, hint) in sorted(RETIRED.items()))
    lines = [
        "# Settings reference",
        "",
        generated_notice("python -m scripts.docs"),
        "",
        "Everything that varies per environment is one frozen dataclass, `Settings` in",
        "[modules/settings.py](../../modules/settings.py), built and validated once per synth. The rules live",
        "by concern in [modules/settings_rules/](../../modules/settings_rules/), each module's `RULES` next to",
        "the check that enforces it; the *rule* column below is that text, and *about* is the comment on the",
        "field in `Settings`.",
        "",
        "## Sources and precedence",
        "",
        "Later wins:",
        "",
        "1. the field's default in `Settings` (the cheap development shape);",
        "2. the profile of the environment (`PROFILES`: `staging`, `prod`);",
        "3. the `context` block of `cdktf.json` (`environmentSuffix` names the environment);",
        f"4. environment variables: `{ENVIRONMENT_VAR}` and the variables in the table (`ENV_VARS`).",
        "",
        preview,
        "",
        "A bad value stops synth with one line that names the setting, e.g.",
        "`invalid setting nat_gateways: -1 must be between 0 and 3 (one per AZ)`. An unknown `PAYMENTS_*`",
        "variable fails too, naming the closest known one; known besides the table are the tooling variables",
        f"{', '.join(f'`{v}`' for v in sorted(TOOLING_VARS))}. Retired: {retired}.",
        "",
        "Booleans accept `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`.",
        "",
        "## Settings",
        "",
        "Defaults per environment are what `build_settings` resolves with no variable set.",
        "",
        *table(["setting", "variable", "type", *columns, "rule", "about (the field's comment)"], rows),
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- outputs and parameters

REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.[A-Za-z0-9_-]+\.([a-z0-9_]+)\}")
SSM_NAME = re.compile(r"^/payment/(?P<name>.+)-(?P<env>[a-z][a-z0-9]*)$")


# The parts of the environment's stack that settings turn on (each adds outputs), switched on together
# in one extra synth of dev; example values, which the page never prints.
OPTIONAL_PARTS = {
    "api_domain_name": {"PAYMENTS_API_DOMAIN_NAME": "api.payments.example.com",
                        "PAYMENTS_API_CERTIFICATE_ARN": "arn:aws:acm:us-east-1:123456789012:certificate/"
                                                        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"},
    "migration_enabled": {"PAYMENTS_CUTOVER_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ"},  # + MIGRATION_SETTINGS
}
OPTIONAL = "optional"  # the environments-column label of what only the optional parts add


def synthesize(outdir: Path) -> tuple[Path, Path, list[Path]]:
    """Synthesize dev, staging and prod with the defaults and, beside it, dev with an account's settings
    (the CI roles exist only then) and every optional part on; returns the arguments of
    ``render_outputs``."""
    from scripts.rehearsal.smoke import MIGRATION_SETTINGS
    from tests.support import ACCOUNT_SETTINGS, synth_environments

    everything = {**ACCOUNT_SETTINGS, **MIGRATION_SETTINGS,
                  **{k: v for part in OPTIONAL_PARTS.values() for k, v in part.items()}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        envs = pool.submit(synth_environments, outdir / "synth", ENVIRONMENTS)
        optional = pool.submit(synth_environments, outdir / "synth-optional", ["dev"], **everything)
        stacks = optional.result() / "dev" / "stacks"
        return envs.result(), stacks, [stacks]


def _refers_to(value: object) -> str:
    """What an output's value is made of, as resource type and attribute (never a value)."""
    refs = sorted(set(REFERENCE.findall(json.dumps(value))))
    return ", ".join(f"`{rtype}` `{attribute}`" for rtype, attribute in refs) or "a text built at synth"


def _stack_rows(stacks: dict[str, list[dict]]) -> tuple[list[list[str]], list[list[str]]]:
    """(outputs rows, SSM rows) of one stack seen in several environments ({env: [cdk.tf.json, ...]});
    what an environment has already is described as that environment has it."""
    outputs: dict[str, tuple[dict, list[str]]] = {}
    params: dict[str, tuple[dict, list[str]]] = {}
    for env, docs in stacks.items():
        for doc in docs:
            for name, body in doc.get("output", {}).items():
                found = outputs.setdefault(name, (body, []))[1]
                found += [env] if env not in found and (env != OPTIONAL or not found) else []
            for body in doc.get("resource", {}).get("aws_ssm_parameter", {}).values():
                match = SSM_NAME.match(body["name"])
                key = f"/payment/{match['name']}-<env>" if match else body["name"]
                found = params.setdefault(key, (body, []))[1]
                found += [env] if env not in found and (env != OPTIONAL or not found) else []
    out_rows = [[f"`{name}`", prose(body.get("description", "(no description)")), _refers_to(body.get("value")),
                 "yes" if body.get("sensitive") else "no", ", ".join(envs)]
                for name, (body, envs) in sorted(outputs.items())]
    ssm_rows = [[f"`{name}`", prose(body.get("description", "(no description)")), body.get("type", ""),
                 ", ".join(envs)] for name, (body, envs) in sorted(params.items())]
    return out_rows, ssm_rows


def render_outputs(synth_root: Path | None = None, ci_stacks: Path | None = None,
                   optional_stacks: Iterable[Path] = ()) -> str:
    """docs/operators/outputs.md from ``synth_root/<env>/stacks`` (dev, staging, prod), the stacks of
    a synth with an account's settings (payments-account) and those of dev with the optional parts on (one
    synth or several); synthesizes them when not given (the tests pass the suite's)."""
    if synth_root is None or ci_stacks is None:
        with tempfile.TemporaryDirectory(prefix="docs-synth-") as tmp:
            return render_outputs(*synthesize(Path(tmp)))

    def load(path: Path) -> dict:
        return json.loads(path.read_text())

    def per_environment(stack: str) -> dict[str, list[dict]]:
        return {env: [load(synth_root / env / "stacks" / stack.replace("<env>", env) / "cdk.tf.json")]
                for env in ENVIRONMENTS}

    environment_stack = per_environment("payments-<env>")
    environment_stack[OPTIONAL] = [load(path / "payments-dev" / "cdk.tf.json") for path in optional_stacks]
    groups: list[tuple[str, str, dict[str, list[dict]]]] = [
        ("`payments-<env>`", "The environment's stack: one per environment (`make deploy ENVIRONMENT_SUFFIX=<env>`).",
         environment_stack),
        ("`payments-state`", "The state bucket and its key (`make bootstrap`); synthesized with every environment.",
         per_environment("payments-state")),
        ("`payments-account`", "The account's region-wide singletons: API Gateway's logging role, the object trail "
                               "and, with `PAYMENTS_GITHUB_REPOSITORY` set, the CI roles of the environments in the "
                               "account (GitHub OIDC); one per account.",
         {"account": [load(ci_stacks / "payments-account" / "cdk.tf.json")]}),
    ]
    lines = [
        "# Stack outputs and SSM parameters",
        "",
        generated_notice("python -m scripts.docs"),
        "",
        "What each stack publishes for people and other tools, read from the synthesized stacks of `dev`,",
        "`staging` and `prod` with their default settings (and, for `payments-account`, with an account's",
        "settings). Values are never printed here: read them from the deployed stack with",
        "`terraform output` in `cdktf.out/stacks/<stack>` (or `cdktf output <stack>`), and the parameters",
        "with `aws ssm get-parameter --name /payment/<name>-<env>`. *Refers to* names the resource type and",
        "attribute an output is made of. *optional* in the environments column: only where a setting turns",
        f"an optional part on ({', '.join(f'`{name}`' for name in OPTIONAL_PARTS)}).",
        "",
    ]
    for stack, about, docs in groups:
        out_rows, ssm_rows = _stack_rows(docs)
        lines += [f"## {stack}", "", about, "", "### Outputs", ""]
        header = ["output", "description", "refers to", "sensitive", "environments"]
        lines += [*(table(header, out_rows) if out_rows else ["None."]), ""]
        if ssm_rows:
            lines += ["### SSM parameters", "",
                      "`aws_ssm_parameter` resources named `/payment/<name>-<env>`, for tools that run without the",
                      "Terraform state (the merchant commands, scripts).", "",
                      *table(["parameter", "description", "type", "environments"], ssm_rows), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- generated blocks in written pages

REHEARSAL_PAGE = "docs/maintainers/rehearsal.md"


def replace_block(page: str, name: str, lines: list[str]) -> str:
    """``page`` as committed, with the text between its ``BEGIN GENERATED: <name>`` and ``END
    GENERATED: <name>`` comments replaced by ``lines``: for a table inside a page that is otherwise
    written by hand."""
    text = (PROJECT_ROOT / page).read_text()
    block = re.compile(rf"(<!-- BEGIN GENERATED: {re.escape(name)}\b[^\n]*-->\n)(.*?)(<!-- END GENERATED: {re.escape(name)} -->)",
                       re.S)
    if not block.search(text):
        raise SystemExit(f"{page}: no generated block {name!r}")
    return block.sub(lambda m: m.group(1) + "".join(line + "\n" for line in lines) + m.group(3), text)


def render_exclusions() -> str:
    """The rehearsal's exclusion list, one row per entry of ``modules.rehearsal.EXCLUSIONS``."""
    from modules.rehearsal import EXCLUSIONS

    rows = [[cell(e.target), e.kind, prose(e.reason), prose(e.error)] for e in EXCLUSIONS]
    return replace_block(REHEARSAL_PAGE, "exclusions", table(["target", "kind", "why", "error seen"], rows))


ARCHITECTURE_PAGE = "docs/maintainers/architecture.md"
# What the layout table lists, in its order: each module's or package's docstring says what it owns.
LAYOUT = ("modules/stacks", "modules", "modules/settings_rules", "modules/migration", "lambdas/shared/python/payments_core",
          "scripts", "scripts/rehearsal")


def first_sentence(path: Path) -> str:
    """The first sentence of a module's (or package's ``__init__``) docstring: what it owns."""
    import ast

    source = path / "__init__.py" if path.is_dir() else path
    doc = ast.get_docstring(ast.parse(source.read_text())) or ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    end = re.search(r"(?<!e\.g)(?<!i\.e)\.(\s|$)", paragraph)
    return paragraph[:end.start() + 1] if end else paragraph


def render_layout() -> str:
    """The layout table of the architecture page: one row per module of ``LAYOUT``'s folders."""
    rows = []
    for folder in LAYOUT:
        base = PROJECT_ROOT / folder
        entries = sorted(p for p in base.iterdir()
                         if (p.suffix == ".py" and p.name != "__init__.py")
                         or (p.is_dir() and (p / "__init__.py").exists() and f"{folder}/{p.name}" not in LAYOUT))
        for entry in [base, *entries] if (base / "__init__.py").exists() else entries:
            name = f"{entry.relative_to(PROJECT_ROOT)}{'/' if entry.is_dir() else ''}"
            rows.append([f"`{name}`", prose(first_sentence(entry))])
    return replace_block(ARCHITECTURE_PAGE, "layout", table(["path", "what it owns (its docstring)"], rows))


# --------------------------------------------------------------------------- registry

GENERATED: dict[str, Callable[[], str]] = {
    SETTINGS_PAGE: render_settings,
    OUTPUTS_PAGE: render_outputs,
    REHEARSAL_PAGE: render_exclusions,
    ARCHITECTURE_PAGE: render_layout,
}
# The OpenAPI document (scripts/openapi.py, when present) registers its own pages the same way.
if importlib.util.find_spec("scripts.openapi") is not None:
    GENERATED.update(importlib.import_module("scripts.openapi").GENERATED)


def stale_pages(rendered: dict[str, str], root: Path = PROJECT_ROOT) -> list[str]:
    """The pages whose committed text differs from ``rendered`` (missing pages included)."""
    return [path for path, text in rendered.items()
            if not (root / path).exists() or (root / path).read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming the pages that differ")
    args = parser.parse_args(argv)
    rendered = {path: render() for path, render in GENERATED.items()}
    stale = stale_pages(rendered)
    if args.check:
        for path in stale:
            print(f"out of date: {path} (run make docs)")
        return 1 if stale else 0
    for path in stale:
        (PROJECT_ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (PROJECT_ROOT / path).write_text(rendered[path])
        print(f"wrote {path}")
    print(f"{len(rendered)} generated pages, {len(stale)} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
