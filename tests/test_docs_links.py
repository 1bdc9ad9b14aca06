"""The README and the docs pages point at things that exist.

Every relative link (and its `#anchor`, by GitHub's heading slugs) must resolve, and every
repository path written as code (`starters/policies.py`) must exist, so a page cannot go
on naming a module after it moved.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# A path from the repository's root, with no placeholder in it.
TOP_LEVEL = "starters|runtime|tests|orchestrators|infra|schemas|bench|docs|servicebus-emulator"
REPO_PATH = re.compile(rf"(?:{TOP_LEVEL})/[A-Za-z0-9_./-]*")


def prose(page: Path) -> str:
    """The page without its fenced code blocks, where links and paths are examples."""
    return FENCE.sub("", page.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(page).splitlines():
        if match := re.match(r"#{1,6} (.+)", line):
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


def _generated(span: str) -> bool:
    # A path the repository ignores is an output a command writes (bench results, say):
    # the page may name it before it exists.
    found = subprocess.run(["git", "check-ignore", "-q", "--no-index", span], cwd=ROOT, check=False)
    return found.returncode == 0


def missing_paths(page: Path) -> list[str]:
    missing = []
    for span in CODE_SPAN.findall(prose(page)):
        if REPO_PATH.fullmatch(span) and not (ROOT / span).exists() and not _generated(span):
            missing.append(span)
    return missing


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_resolve(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_repository_paths_exist(page: Path) -> None:
    assert missing_paths(page) == []


def test_the_checks_see_a_broken_link_and_a_missing_path(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A heading\n[ok](#a-heading) [gone](missing.md) [bad anchor](#nowhere)\n"
        "`starters/no_such_module.py` `starters/policies.py`\n"
        "```\n[in a code block](ignored.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "#nowhere: no heading #nowhere in page.md",
    ]
    assert missing_paths(page) == ["starters/no_such_module.py"]
