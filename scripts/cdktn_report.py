"""The CDK Terrain readiness report (scripts/cdktn_readiness.py) as Markdown, and the hashicorp/aws 6.0
upgrade-guide entries that matter for the resource types the app synthesizes."""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping

# hashicorp/aws 6.0 upgrade guide entries for resource types this app can synthesize (the guide
# lists many more types; only these matter here). docs/maintainers/framework-continuity.md.
UPGRADE_NOTES = {
    "*": "every resource gains an optional `region` argument (Enhanced Region Support); "
         "unset, it is the provider's region, so no plan change",
    "provider": "provider endpoints `opsworks`, `simpledb`/`sdb`, `worklink` are removed; "
                "`s3_us_east_1_regional_endpoint` is deprecated (gone in 7.0)",
    "resource.aws_api_gateway_account": "`reset_on_delete` is removed: destroying the stack now always "
                                        "resets the account's API Gateway settings (CloudWatch role)",
    "resource.aws_api_gateway_deployment": "`stage_name`, `stage_description`, `canary_settings`, "
                                           "`invoke_url`, `execution_arn` are removed (use aws_api_gateway_stage)",
    "resource.aws_s3_bucket": "the `region` attribute now means the resource's Region; read "
                              "`bucket_region` for the bucket's own Region",
    "resource.aws_flow_log": "`log_group_name` is removed (use `log_destination`)",
    "resource.aws_dms_endpoint": "`s3_settings` is removed (use aws_dms_s3_endpoint)",
    "resource.aws_db_instance": "`character_set_name` no longer combines with restores or replicas",
    "resource.aws_instance": "`user_data` is stored in clear text; `cpu_core_count` removed",
    "data.aws_region": "`name` is deprecated (use `region`)",
    "data.aws_s3_bucket": "`region` now means the lookup Region (use `bucket_region`)",
}


def group_changes(changes: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """Changes with the resource name folded (``resource.aws_x.*.attr``), counted: a compact view."""
    grouped: Counter[str] = Counter()
    for change in changes:
        parts = change["path"].split(".")
        if parts[0] in ("resource", "data") and len(parts) > 2:
            parts[2] = "*"
        grouped[f"{change['change']} {'.'.join(parts)}"] += 1
    return grouped


def relevant_notes(stacks: Mapping[str, Any]) -> dict[str, str]:
    types = {t for entry in stacks.values() for c in entry.values() for t in c.get("types", [])}
    return {k: v for k, v in UPGRADE_NOTES.items() if k in types or k in ("*", "provider")}


def required_versions(report: Mapping[str, Any]) -> set[str]:
    return {p.get("version", "") for entry in report["stacks"].values() for c in entry.values()
            for p in c.get("providers", {}).get("after", {}).values()}


def _constraint(providers: Mapping[str, Any]) -> str:
    return ", ".join(f"{p.get('source', name)} {p.get('version', '(any)')}" for name, p in sorted(providers.items()))


def markdown(report: Mapping[str, Any]) -> str:
    v = report["versions"]
    lines = [f"# CDK Terrain readiness: {report['date']}", "",
             f"Commit `{report['commit']}`{' (uncommitted changes)' if report['dirty'] else ''}; "
             f"took {report['seconds']} s. Baseline: cdktf {v['baseline'].get('cdktf')} + "
             f"cdktf-cdktf-provider-aws {v['baseline'].get('cdktf-cdktf-provider-aws')}; candidate: "
             f"cdktn {v['cdktn'].get('cdktn')} + cdktn-provider-aws {v['cdktn'].get('cdktn-provider-aws')} "
             f"(constructs {v['cdktn'].get('constructs')}, jsii {v['cdktn'].get('jsii')}); Node {report['node']}.",
             f"Files with renamed imports: {len(report['renamed_files'])}.", "",
             "| stack | cdktn fast | cdktn eager | types +/- | attribute changes | provider before -> after |",
             "|---|---|---|---|---|---|"]
    for name, entry in report["stacks"].items():
        fast, eager = entry["cdktn-fast"], entry["cdktn-eager"]
        cells = [("ok" if "missing" not in c else "FAILED") for c in (fast, eager)]
        c = fast if "missing" not in fast else eager
        if "missing" in c:
            lines.append(f"| {name} | {cells[0]} | {cells[1]} | - | - | - |")
            continue
        plus = sum(c["types_added"].values())
        minus = sum(c["types_removed"].values())
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | +{plus} / -{minus} | {len(c['attribute_changes'])} | "
                     f"{_constraint(c['providers']['before'])} -> {_constraint(c['providers']['after'])} |")
    lines += ["", "## Synth runs", "", "Wall time and CPU time (user + system, the Python and Node processes) per synth.", "", "| run | " + " | ".join(report["synth"]["baseline-fast"]) + " |",
              "|---|" + "---|" * len(report["synth"]["baseline-fast"])]
    for run_name, by_label in report["synth"].items():
        lines.append(f"| {run_name} | " + " | ".join(
            f"ok {r['seconds']} s (CPU {r['cpu_seconds']} s)" if r["ok"] else f"FAILED: {r['error']}"
            for r in by_label.values()) + " |")
    lines += ["", "## Differences (cdktn fast vs baseline)", ""]
    for name, entry in report["stacks"].items():
        c = entry["cdktn-fast"]
        if "missing" in c:
            lines.append(f"- `{name}`: not synthesized ({c['error']})")
            continue
        grouped = group_changes(c["attribute_changes"])
        detail = "; ".join(f"`{k}` x{n}" for k, n in grouped.most_common(15)) or "none"
        types = ", ".join([f"+{n} {t}" for t, n in c["types_added"].items()]
                          + [f"-{n} {t}" for t, n in c["types_removed"].items()]) or "none"
        lines.append(f"- `{name}`: types {types}; attributes {detail}"
                     f"{'' if c == entry['cdktn-eager'] else ' (eager run differs from fast)'}")
    f = report["fast_loader"]
    lines += ["", "## Fast provider loader (modules/provider_loader.py)", "",
              f"- Python half: binding `__init__` already lazy: {f['python_init_lazy']}; `_jsii` submodule "
              f"present: {f['python_has_jsii_submodule']}.",
              f"- Node half (lazy_provider_index.js): npm package `{f['npm_package']}`, index path matches: "
              f"{f['node_index_path_matches']}; export lines matched {f['node_index_lines_matched']} of "
              f"{f['node_index_require_lines']}; preload engages: {f['node_preload_engages']}.",
              f"- Node engines of the binding: {f['node_engines']}.",
              "", "## Provider lock file", "",
              f"- .terraform.lock.hcl pins hashicorp/aws {', '.join(report['lock_file_versions'])}; the CDK Terrain "
              f"stacks require {', '.join(sorted(required_versions(report)))}. "
              + ("`terraform init` accepts the lock file." if set(required_versions(report)) <= set(report["lock_file_versions"])
                 else "`terraform init` refuses the lock file until it (and the provider mirror) carry that version."),
              "", "## hashicorp/aws 6.0 upgrade notes for the types in these stacks", ""]
    lines += [f"- `{k}`: {note}" for k, note in report["upgrade_notes"].items()]
    return "\n".join(lines) + "\n"
