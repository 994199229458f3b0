"""The offline parts of the CDK Terrain readiness check (scripts/cdktn_readiness.py): the import rename
and the JSON comparison. No install, no synth, no network; the check itself runs only through
`make cdktn-readiness` (docs/maintainers/framework-continuity.md)."""

from __future__ import annotations

import textwrap

from scripts.cdktn_readiness import compare_stacks, diff_json, rename_imports
from scripts.cdktn_report import group_changes

APP_SOURCE = textwrap.dedent('''\
    """A cdktf app: `cdktf synth` reads cdktf.json."""
    from __future__ import annotations

    import cdktf
    import os, cdktf_cdktf_provider_aws.vpc as vpc_module
    from cdktf import App, TerraformStack  # cdktf, not cdktn yet
    from cdktf_cdktf_provider_aws.s3_bucket import (
        S3Bucket,
    )
    from modules import cdktf_helpers
    from modules.cdktf import helper

    PACKAGE = "cdktf_cdktf_provider_aws"
    TAGS = {"ManagedBy": "cdktf", "File": "cdktf.json", "Note": "cdktf_cdktf_provider_aws.vpc"}


    def build():
        from cdktf import Testing
        return cdktf.App()
''')


def test_rename_imports_renames_every_import_form_of_both_packages():
    renamed = rename_imports(APP_SOURCE)
    assert "import cdktn\n" in renamed
    assert "import os, cdktn_provider_aws.vpc as vpc_module\n" in renamed
    assert "from cdktn import App, TerraformStack  # cdktf, not cdktn yet\n" in renamed
    assert "from cdktn_provider_aws.s3_bucket import (\n" in renamed
    assert "    from cdktn import Testing\n" in renamed  # an import inside a function
    assert 'PACKAGE = "cdktn_provider_aws"' in renamed  # provider_loader.PACKAGE


def test_rename_imports_leaves_data_comments_and_other_modules_alone():
    renamed = rename_imports(APP_SOURCE)
    assert '"""A cdktf app: `cdktf synth` reads cdktf.json."""' in renamed
    assert 'TAGS = {"ManagedBy": "cdktf", "File": "cdktf.json", "Note": "cdktf_cdktf_provider_aws.vpc"}' in renamed
    assert "from modules import cdktf_helpers\n" in renamed
    assert "from modules.cdktf import helper\n" in renamed
    assert "    return cdktf.App()\n" in renamed  # attribute use is not an import (a maintainer's edit)
    assert len(renamed.splitlines()) == len(APP_SOURCE.splitlines())


def test_rename_imports_without_a_match_returns_the_source_unchanged():
    source = "from modules import settings\nVALUE = 'cdktn'\n"
    assert rename_imports(source) == source


def test_diff_json_reports_added_removed_and_changed_leaves_with_their_paths():
    old = {"a": {"b": 1, "gone": True}, "list": [1, 2, 3], "same": "x"}
    new = {"a": {"b": 2, "new": None}, "list": [1, 5], "same": "x"}
    changes = {(".".join(c["path"]), c["change"]) for c in diff_json(old, new)}
    assert changes == {("a.b", "changed"), ("a.gone", "removed"), ("a.new", "added"),
                       ("list.[1]", "changed"), ("list.[2]", "removed")}


def test_diff_json_compares_json_types_not_python_equality():
    assert diff_json({"x": 1}, {"x": True}) == [{"path": ("x",), "change": "changed", "old": 1, "new": True}]
    assert diff_json({"x": [1, {"y": "z"}]}, {"x": [1, {"y": "z"}]}) == []


def test_diff_json_ignores_the_given_paths_with_wildcards():
    old = {"//": {"metadata": {"version": "0.21.0", "stackName": "s"}}, "r": {"a": {"v": 1}, "b": {"v": 1}}}
    new = {"//": {"metadata": {"version": "0.24.0", "stackName": "t"}}, "r": {"a": {"v": 2}, "b": {"v": 2}}}
    changes = diff_json(old, new, ignore=[("//", "metadata", "version"), ("r", "*", "v")])
    assert [".".join(c["path"]) for c in changes] == ["//.metadata.stackName"]


STACK = {
    "//": {"metadata": {"version": "0.21.0"}},
    "terraform": {"required_providers": {"aws": {"source": "aws", "version": "5.100.0"}}},
    "resource": {"aws_sqs_queue": {"q1": {"name": "a"}, "q2": {"name": "b"}},
                 "aws_s3_bucket": {"b": {"bucket": "x", "region": None}}},
    "data": {"aws_partition": {"p": {}}},
}


def test_compare_stacks_counts_types_and_separates_noise_and_provider_constraints():
    new = {
        "//": {"metadata": {"version": "0.24.0"}},
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": "6.69.1"}}},
        "resource": {"aws_sqs_queue": {"q1": {"name": "a2"}},
                     "aws_s3_bucket": {"b": {"bucket": "x", "region": None}},
                     "aws_api_gateway_stage": {"s": {"stage_name": "v1"}}},
        "data": {"aws_partition": {"p": {}}},
    }
    result = compare_stacks(STACK, new)
    assert result["types_added"] == {"resource.aws_api_gateway_stage": 1}
    assert result["types_removed"] == {"resource.aws_sqs_queue": 1}
    paths = {(c["path"], c["change"]) for c in result["attribute_changes"]}
    assert paths == {("resource.aws_sqs_queue.q1.name", "changed"), ("resource.aws_sqs_queue.q2", "removed"),
                     ("resource.aws_api_gateway_stage", "added")}
    assert result["providers"]["after"] == {"aws": {"source": "hashicorp/aws", "version": "6.69.1"}}
    assert result["identical_json"] is False


def test_compare_stacks_of_equal_stacks_reports_nothing():
    result = compare_stacks(STACK, STACK)
    assert (result["types_added"], result["types_removed"], result["attribute_changes"]) == ({}, {}, [])
    assert result["identical_json"] is True


def test_group_changes_folds_resource_names():
    changes = [{"path": "resource.aws_lambda_function.validate.timeout", "change": "changed"},
               {"path": "resource.aws_lambda_function.process.timeout", "change": "changed"},
               {"path": "provider.aws.[0].region", "change": "added"}]
    assert group_changes(changes) == {"changed resource.aws_lambda_function.*.timeout": 2,
                                      "added provider.aws.[0].region": 1}
