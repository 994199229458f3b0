"""Links inside the repository's documentation resolve: every relative link in README.md and
docs/**/*.md names a file that exists, and every #anchor (on the same page or another) is a heading
of that page by GitHub's rules (scripts.markdown.heading_anchors). External http(s) links are not fetched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scripts.markdown import heading_anchors, markdown_lines
from tests.support import PROJECT_ROOT

PAGES = sorted([PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").rglob("*.md")])
README_MAX_LINES = 300  # the front door: what it is, the two commands, where each reader goes
PAGE_MAX_LINES = 400    # a page in docs/ is read in one sitting; longer ones are split by topic
CODE_SPAN = re.compile(r"(`+).*?\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def links(text: str) -> list[str]:
    """The link targets of a Markdown text, outside code blocks and code spans."""
    found = []
    for line in markdown_lines(text):
        line = CODE_SPAN.sub("", line)
        found += INLINE_LINK.findall(line)
        if definition := REFERENCE_DEFINITION.match(line):
            found.append(definition.group(1))
    return found


def broken_links(page: Path) -> list[str]:
    problems = []
    for target in links(page.read_text()):
        if not target or SCHEME.match(target):  # external (http, https, mailto): not fetched
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved.read_text()):
            problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_link_inside_the_repository_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_duplicate_headings_get_numbered_anchors_like_github() -> None:
    text = ("# Setup\n## Setup\n```\n# not a heading\n```\n### Setup\n## `make docs`: Pages & Links!\n"
            "## `payments-<env>` and <b>[the CI](ci.md)</b>\n")
    assert heading_anchors(text) == ["setup", "setup-1", "setup-2", "make-docs-pages--links", "payments-env-and-the-ci"]


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n## Known section\n")
    page.write_text("# Page\n[ok](other.md#known-section) [self](#page) `[code](nowhere.md)` "
                    "[gone](missing.md) [bad](other.md#unknown) [web](https://example.com/x#y)\n")
    assert broken_links(page) == ["missing.md: no such file", "other.md#unknown: no heading #unknown in other.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_ROOT)))
def test_page_is_short_enough_to_read(page: Path) -> None:
    limit = README_MAX_LINES if page == PROJECT_ROOT / "README.md" else PAGE_MAX_LINES
    assert len(page.read_text().splitlines()) <= limit


def test_every_page_in_docs_is_one_click_from_the_readme() -> None:
    """Each reader finds their page from the README: every page under docs/ is linked from it."""
    readme = PROJECT_ROOT / "README.md"
    linked = {(readme.parent / target.partition("#")[0]).resolve()
              for target in links(readme.read_text()) if not SCHEME.match(target)}
    unlinked = [str(page.relative_to(PROJECT_ROOT)) for page in PAGES
                if page != readme and page.resolve() not in linked]
    assert not unlinked, f"pages no README link reaches: {unlinked}"
