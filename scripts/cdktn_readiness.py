"""CDK Terrain readiness check: would this app synthesize with ``cdktn`` + ``cdktn-provider-aws``?

``make cdktn-readiness`` (a maintainer's check, not part of ``make test``; it needs the package index
once for .tools/cdktn). It copies the app into a temporary folder twice: as it is, and with its
imports renamed (``cdktf`` -> ``cdktn``, ``cdktf_cdktf_provider_aws`` -> ``cdktn_provider_aws``).
The first copy is synthesized with the project's framework (.venv), the second with CDK Terrain
(its own venv), through the normal provider import and through the project's fast provider loader
(modules/provider_loader.py, PAYMENTS_PROVIDER_IMPORT). Each stack's cdk.tf.json is then compared
with the current framework's: resources added/removed per type, attributes that differ, provider
constraints. Findings: build/cdktn-readiness/report.md and report.json; synth logs beside them.
docs/maintainers/framework-continuity.md explains the result and the migration steps.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tokenize
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from scripts.cdktn_report import markdown, relevant_notes

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Python module names: the current framework's -> CDK Terrain's (read off the installed wheels).
RENAMES = {"cdktf": "cdktn", "cdktf_cdktf_provider_aws": "cdktn_provider_aws"}
PROVIDER_MODULE = RENAMES["cdktf_cdktf_provider_aws"]
# Strings renamed too (modules/provider_loader.py names the package in one). Not "cdktf": as a string
# it is also a word the app uses as data (the ManagedBy tag), which must not change.
STRING_RENAMES = {"cdktf_cdktf_provider_aws": PROVIDER_MODULE}
# What `python -m scripts.synth` needs (migration/ holds the DMS table mappings).
APP_PATHS = ("main.py", "modules", "lambdas", "scripts", "migration",
             "cdktf.json", "backend.tf.json", ".terraform.lock.hcl")
NOT_COPIED = ("scripts/cdktn_readiness.py", "scripts/cdktn_report.py")  # the check, not the app
ACCOUNT = "123456789012"  # a placeholder account, as in the tests: synthesis never calls AWS
# label -> (environment, extra settings). The defaults as `make synth` sees them, plus the two
# optional parts of the app: the account's S3 backend and CI stack, and the migration (issue 15).
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "dev": ("dev", {}), "staging": ("staging", {}), "prod": ("prod", {}),
    "dev-account": ("dev", {"PAYMENTS_ACCOUNT_ID": ACCOUNT, "PAYMENTS_GITHUB_REPOSITORY": "acme/payments-cdktf",
                            "PAYMENTS_STATE_READER_ARNS": f"arn:aws:iam::{ACCOUNT}:role/payments-break-glass"}),
    "dev-migration": ("dev", {"PAYMENTS_CUTOVER_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ",
                              "PAYMENTS_DASHBOARD_ENABLED": "true"}),  # + MIGRATION_SETTINGS
}
RUNS = (("baseline", "fast"), ("cdktn", "fast"), ("cdktn", "eager"))
# Differences that say nothing about the infrastructure: the framework's own version string.
NOISE: tuple[tuple[str, ...], ...] = (("//", "metadata", "version"),)
PROVIDERS = ("terraform", "required_providers")  # reported on their own, not as attribute changes


# --- pure functions (tests/test_cdktn_readiness.py) -------------------------------------------

def rename_imports(source: str, renames: Mapping[str, str] = RENAMES,
                   string_renames: Mapping[str, str] = STRING_RENAMES) -> str:
    """``source`` with module names replaced where Python imports them: the first name of each module
    in ``import a.b, c`` and ``from a.b import x`` (at the start of a logical line), plus string
    literals that are exactly a name in ``string_renames`` (``importlib.import_module(PACKAGE)``).
    Comments, docstrings, other strings (``"cdktf.json"``, a ``"cdktf"`` tag value), imported
    names (``from modules import cdktf``) and dotted names (``modules.cdktf``) stay as they are."""
    edits: list[tuple[int, int, int, str]] = []  # (row, start col, end col, replacement)
    kind = ""  # "import" or "from" while inside such a statement
    line_start, previous = True, ""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.NL, tokenize.COMMENT):
            continue
        if token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            kind, line_start, previous = "", True, ""
            continue
        if line_start and token.string in ("import", "from"):
            kind = token.string
        elif token.type == tokenize.NAME and token.string in renames and (
                (kind == "import" and previous in ("import", ",")) or (kind == "from" and previous == "from")):
            edits.append((*token.start, token.end[1], renames[token.string]))
        elif token.type == tokenize.STRING:
            quote = token.string.lstrip("rRuU")
            if quote[:1] in ("'", '"') and quote.strip("'\"") in string_renames:
                name = quote.strip("'\"")
                start = token.start[1] + token.string.index(name)
                edits.append((token.start[0], start, start + len(name), string_renames[name]))
        line_start, previous = False, token.string
    lines = source.splitlines(keepends=True)
    for row, start, end, text in sorted(edits, reverse=True):
        lines[row - 1] = lines[row - 1][:start] + text + lines[row - 1][end:]
    return "".join(lines)


def _matches(path: Sequence[str], patterns: Iterable[Sequence[str]]) -> bool:
    return any(len(p) == len(path) and all(a in ("*", b) for a, b in zip(p, path)) for p in patterns)


def diff_json(old: Any, new: Any, ignore: Iterable[Sequence[str]] = (),
              path: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Structural differences between two JSON values: one entry per differing leaf, or per key/item
    only one side has (``change``: added, removed, changed; ``path``: the keys, list items as
    ``[i]``). ``ignore`` holds key paths (``*`` matches any one key) left out with all below them.
    ``1`` and ``true`` differ (JSON types are compared, not Python equality)."""
    ignore = tuple(tuple(p) for p in ignore)
    if _matches(path, ignore):
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        pairs = [(k, old.get(k, _MISSING), new.get(k, _MISSING)) for k in keys]
    elif isinstance(old, list) and isinstance(new, list):
        pairs = [(f"[{i}]", old[i] if i < len(old) else _MISSING, new[i] if i < len(new) else _MISSING)
                 for i in range(max(len(old), len(new)))]
    else:
        same = type(old) is type(new) and old == new
        return [] if same else [{"path": path, "change": "changed", "old": old, "new": new}]
    changes: list[dict[str, Any]] = []
    for key, a, b in pairs:
        sub = path + (key,)
        if _matches(sub, ignore):
            continue
        if a is _MISSING:
            changes.append({"path": sub, "change": "added", "new": b})
        elif b is _MISSING:
            changes.append({"path": sub, "change": "removed", "old": a})
        else:
            changes.extend(diff_json(a, b, ignore, sub))
    return changes


_MISSING = object()


def count_by_type(stack: Mapping[str, Any]) -> Counter[str]:
    """``resource.<type>`` / ``data.<type>`` -> how many the stack declares."""
    return Counter({f"{section}.{rtype}": len(by_name)
                    for section in ("resource", "data") for rtype, by_name in stack.get(section, {}).items()})


def compare_stacks(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What a maintainer needs to know about one stack: type counts, attribute changes, providers."""
    before, after = count_by_type(old), count_by_type(new)
    changes = diff_json(old, new, ignore=NOISE + (PROVIDERS,))
    return {
        "identical_json": old == new,
        "types_added": {t: after[t] - before[t] for t in sorted(after) if after[t] > before[t]},
        "types_removed": {t: before[t] - after[t] for t in sorted(before) if before[t] > after[t]},
        "attribute_changes": [{**c, "path": ".".join(c["path"])} for c in changes],
        "providers": {"before": _dig(old, PROVIDERS), "after": _dig(new, PROVIDERS)},
        "types": sorted(after | before),
    }


def _dig(value: Any, path: Sequence[str]) -> Any:
    for key in path:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return value


# --- the check ----------------------------------------------------------------------------------

def copy_app(target: Path, renames: Mapping[str, str] | None = None) -> list[str]:
    """Copy the committed app files (APP_PATHS, as ``git ls-files`` lists them) into ``target``;
    with ``renames``, rewrite every .py file's imports. Returns the files that changed."""
    listed = subprocess.run(["git", "ls-files", "-z", "--", *APP_PATHS], cwd=PROJECT_ROOT, check=True,
                            capture_output=True, text=True).stdout.split("\0")
    renamed = []
    for name in (n for n in listed if n and n not in NOT_COPIED):
        source, copy = PROJECT_ROOT / name, target / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
        if renames and copy.suffix == ".py":
            text = source.read_text()
            new = rename_imports(text, renames)
            if new != text:
                copy.write_text(new)
                renamed.append(name)
    return renamed


def synth_env(mode: str, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_OPTIONS", "ENVIRONMENT_SUFFIX")}
    node = PROJECT_ROOT / "node_modules" / ".bin" / "node"
    if node.exists():
        env["JSII_NODE"] = str(node)  # Node 22: both frameworks' packages declare node >= 22
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", "PAYMENTS_PROVIDER_IMPORT": mode, **extra}


def first_error(stderr: str) -> str:
    """The exception line of a Python traceback (else the last line), cut to one readable line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Exit)\b", line)]
    return (errors[-1] if errors else lines[-1] if lines else "no output")[:400]


def synth(python: Path, app: Path, outdir: Path, label: str, mode: str, logs: Path) -> dict[str, Any]:
    environment, extra = VARIANTS[label]
    if label == "dev-migration":
        from scripts.rehearsal.smoke import MIGRATION_SETTINGS
        extra = {**MIGRATION_SETTINGS, **extra}
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([str(python), "-m", "scripts.synth", "--outdir", str(outdir), environment],
                          cwd=app, env=synth_env(mode, extra), capture_output=True, text=True)
    seconds, cpu = round(time.perf_counter() - started, 1), round(_children_cpu() - cpu, 1)
    (logs / f"{outdir.parent.name}-{label}.log").write_text(done.stdout + done.stderr)
    ok = done.returncode == 0
    return {"ok": ok, "seconds": seconds, "cpu_seconds": cpu, "error": None if ok else first_error(done.stderr)}


def _children_cpu() -> float:
    """User + system CPU of the waited-for children (Python and its jsii Node process): on a shared
    machine a steadier figure than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def venv_facts(python: Path) -> dict[str, Any]:
    """Installed versions and where the provider binding lives, asked of that venv's Python."""
    probe = ("import importlib.metadata as m, importlib.util as u, json, sys\n"
             "names = ['cdktf', 'cdktf-cdktf-provider-aws', 'cdktn', 'cdktn-provider-aws', 'constructs', 'jsii']\n"
             "found = {}\nfor n in names:\n    try: found[n] = m.version(n)\n    except m.PackageNotFoundError: pass\n"
             "spec = u.find_spec(sys.argv[1])\n"
             "print(json.dumps({'versions': found, 'provider_dir': spec and spec.submodule_search_locations[0]}))")
    module = PROVIDER_MODULE if "cdktn" in str(python) else "cdktf_cdktf_provider_aws"
    return json.loads(subprocess.run([str(python), "-c", probe, module], check=True,
                                     capture_output=True, text=True).stdout)


def loader_findings(provider_dir: str) -> dict[str, Any]:
    """Does each half of the fast provider loader still apply to the new binding?"""
    init = (Path(provider_dir) / "__init__.py").read_text()
    tgz = next((Path(provider_dir) / "_jsii").glob("*.jsii.tgz"))
    with tarfile.open(tgz) as archive:
        package = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
        index = archive.extractfile("package/lib/index.js").read().decode()  # type: ignore[union-attr]
    js = (PROJECT_ROOT / "modules" / "lazy_provider_index.js").read_text()
    index_re = re.search(r"const INDEX = /(.+)/;", js).group(1)  # type: ignore[union-attr]
    export_re = re.search(r"const EXPORT_LINE = /(.+)/gm;", js).group(1)  # type: ignore[union-attr]
    minimum = int(re.search(r"const MIN_EXPORTS = (\d+);", js).group(1))  # type: ignore[union-attr]
    path = f"/node_modules/{package['name']}/lib/index.js"
    exports = len(re.findall(export_re, index, re.M))
    requires = len(re.findall(r"^exports\.\w+ = .*require\(", index, re.M))
    return {
        "npm_package": package["name"], "node_engines": package.get("engines", {}),
        "python_init_lazy": "def __getattr__(name" in init,
        "python_has_jsii_submodule": (Path(provider_dir) / "_jsii" / "__init__.py").exists(),
        "node_index_path_matches": bool(re.search(index_re, path)),
        "node_index_lines_matched": exports, "node_index_require_lines": requires,
        "node_preload_engages": bool(re.search(index_re, path)) and exports >= minimum,
    }


def lock_file_versions() -> list[str]:
    return re.findall(r'^\s*version\s*=\s*"([^"]+)"', (PROJECT_ROOT / ".terraform.lock.hcl").read_text(), re.M)


def run(cdktn_python: Path, out: Path, labels: Sequence[str], keep: bool) -> dict[str, Any]:
    started = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    logs = out / "logs"
    logs.mkdir(parents=True)
    work = Path(tempfile.mkdtemp(prefix="cdktn-readiness-"))
    try:
        apps = {"baseline": work / "cdktf-app", "cdktn": work / "cdktn-app"}
        copy_app(apps["baseline"])
        renamed = copy_app(apps["cdktn"], RENAMES)
        pythons = {"baseline": Path(sys.executable), "cdktn": cdktn_python}
        synths: dict[str, dict[str, Any]] = {}
        for framework, mode in RUNS:
            run_name = f"{framework}-{mode}"
            synths[run_name] = {}
            for label in labels:
                print(f"synth {run_name} {label} ...", flush=True)
                result = synth(pythons[framework], apps[framework], out / run_name / label, label, mode, logs)
                synths[run_name][label] = result
                print(f"  {'ok' if result['ok'] else 'FAILED'} in {result['seconds']} s "
                      f"(CPU {result['cpu_seconds']} s) {result['error'] or ''}")
        stacks = compare_all(out, labels, synths)
        facts = {name: venv_facts(python) for name, python in pythons.items()}
        report = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", *APP_PATHS)),
            "versions": {k: v["versions"] for k, v in facts.items()},
            "node": subprocess.run([synth_env("fast", {}).get("JSII_NODE", "node"), "--version"],
                                   capture_output=True, text=True).stdout.strip(),
            "renamed_files": renamed, "synth": synths, "stacks": stacks,
            "fast_loader": loader_findings(facts["cdktn"]["provider_dir"]),
            "lock_file_versions": lock_file_versions(),
            "upgrade_notes": relevant_notes(stacks),
            "seconds": round(time.perf_counter() - started, 1),
        }
    finally:
        if keep:
            print(f"kept the copies in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    (out / "report.md").write_text(markdown(report))
    return report


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout.strip()


def compare_all(out: Path, labels: Sequence[str], synths: Mapping[str, Any]) -> dict[str, Any]:
    """``<label>/<stack>`` -> for each CDK Terrain run, its comparison with the baseline."""
    stacks: dict[str, Any] = {}
    for label in labels:
        environment = VARIANTS[label][0]
        base_dir = out / "baseline-fast" / label / environment / "stacks"
        for stack_dir in sorted(base_dir.glob("*")) if base_dir.exists() else []:
            old = json.loads((stack_dir / "cdk.tf.json").read_text())
            entry: dict[str, Any] = {}
            for run_name in ("cdktn-fast", "cdktn-eager"):
                new_file = out / run_name / label / environment / "stacks" / stack_dir.name / "cdk.tf.json"
                entry[run_name] = (compare_stacks(old, json.loads(new_file.read_text())) if new_file.exists()
                                   else {"missing": True, "error": synths[run_name][label]["error"]})
            stacks[f"{label}/{stack_dir.name}"] = entry
    return stacks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=PROJECT_ROOT / ".tools" / "cdktn",
                        help="the CDK Terrain venv (requirements-cdktn.txt)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "build" / "cdktn-readiness")
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--keep", action="store_true", help="keep the temporary app copies")
    args = parser.parse_args(argv)
    python = args.venv.resolve() / "bin" / "python"
    if not python.exists():
        print(f"error: no {python}; `make cdktn-readiness` installs requirements-cdktn.txt there")
        return 2
    report = run(python, args.out.resolve(), args.only, args.keep)
    failed = [f"{r} {label}" for r, by in report["synth"].items() for label, res in by.items() if not res["ok"]]
    print(f"report: {args.out / 'report.md'} ({report['seconds']} s); failed: {', '.join(failed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
