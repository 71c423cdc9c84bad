"""The repository explains itself: every pointer into ``docs/`` leads to a page and a heading that
exist, and nothing points at a design document outside the repository.

Code comments and docs refer to headings by the anchors GitHub generates from them
(``## Client behaviour`` -> ``#client-behaviour``); a renamed heading or a mistyped anchor fails
here, naming the file and line that points at it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# ``docs/<page>.md`` with an optional ``#anchor``, as code comments and docs write it.
DOC_POINTER = re.compile(r"(?<![\w./-])docs/([\w-]+\.md)(?:#([\w-]+))?")
# A Markdown link target: ``[text](target)``.
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
POINTING_SUFFIXES = (".py", ".kv", ".md", ".html")
# Spelled in two parts so that this file does not mention them itself.
OUTSIDE_DOCUMENTS = ("DES" + "IGN.md", "../" + "shared/")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: the rendered text in lower case, punctuation removed,
    each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = text.lower()
    kept = [c for c in text if c.isalnum() or c in " -_" or unicodedata.category(c).startswith("M")]
    return "".join(kept).replace(" ", "-")


def anchors_of_markdown(text: str) -> set[str]:
    """Every anchor a Markdown page offers: its headings (outside code blocks, repeats numbered
    as GitHub numbers them) and explicit ``<a id=…>`` anchors."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if match is None:
            continue
        anchor = github_anchor(match.group(2))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


@cache
def anchors_of(path: Path) -> frozenset[str]:
    return frozenset(anchors_of_markdown(path.read_text(encoding="utf-8")))


def tracked_files() -> list[Path]:
    """The files git tracks in this checkout (present on disk)."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: the docs checks read the tracked files from git")
    done = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, timeout=60
    )
    if done.returncode != 0:
        pytest.skip("not a git checkout: the docs checks read the tracked files from git")
    names = [n for n in done.stdout.decode("utf-8").split("\0") if n]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def _outside_code_blocks(text: str) -> list[tuple[int, str]]:
    lines, in_code = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            lines.append((number, line))
    return lines


def broken_pointers(files: list[Path], *, root: Path = ROOT) -> list[str]:
    """``file:line: problem`` for each pointer that leads nowhere."""
    problems: list[str] = []

    def check(where: str, target: Path, anchor: str | None) -> None:
        shown = target.relative_to(root) if target.is_relative_to(root) else target
        if not target.is_file():
            problems.append(f"{where}: {shown} does not exist")
        elif anchor and target.suffix == ".md" and anchor not in anchors_of(target):
            problems.append(f"{where}: {shown} has no heading with anchor #{anchor}")

    for path in files:
        if path.suffix not in POINTING_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(root)
        for number, line in enumerate(text.splitlines(), start=1):
            for match in DOC_POINTER.finditer(line):
                check(f"{name}:{number}", root / "docs" / match.group(1), match.group(2))
        if path.suffix != ".md":
            continue
        for number, line in _outside_code_blocks(text):
            for match in MARKDOWN_LINK.finditer(line):
                link = match.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # https:, mailto:, …
                    continue
                page, _, anchor = link.partition("#")
                target = (path.parent / page).resolve() if page else path
                check(f"{name}:{number}", target, anchor or None)
    return problems


def mentions_of_outside_documents(files: list[Path], *, root: Path = ROOT) -> list[str]:
    """``file mentions …`` for each file naming a document outside the repository."""
    found = []
    for path in files:
        data = path.read_bytes().lower()
        for needle in OUTSIDE_DOCUMENTS:
            if needle.lower().encode() in data:
                found.append(f"{path.relative_to(root)} mentions {needle}")
    return found


# --- the checks --------------------------------------------------------------------------------


def test_every_pointer_into_docs_leads_to_a_page_and_heading() -> None:
    problems = broken_pointers(tracked_files())
    assert not problems, "pointers that lead nowhere:\n" + "\n".join(problems)


def test_nothing_points_at_a_document_outside_the_repository() -> None:
    found = mentions_of_outside_documents(tracked_files())
    assert not found, "\n".join(found)


def test_the_pages_the_code_points_at_exist() -> None:
    for page, anchors in {
        "product.md": {"users", "architecture", "domain"},
        "protocol.md": {
            "enrolment",
            "push",
            "pull",
            "attachments",
            "client-behaviour",
            "management-api",
            "custody-receipts",
            "tablet-status",
            "changes-to-protocol-v1",
        },
        "results.md": {"forms", "observations", "result-indicators", "shipped-forms", "exports"},
        "cli.md": {"configuration"},
        "indicators.md": {"exports"},
    }.items():
        missing = anchors - anchors_of(ROOT / "docs" / page)
        assert not missing, f"docs/{page} lacks the headings {sorted(missing)}"


# --- the checker itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Push", "push"),
        ("Client behaviour", "client-behaviour"),
        ("Changes to protocol v1", "changes-to-protocol-v1"),
        ("Measured (`make bench`)", "measured-make-bench"),
        ("Results — what a pilot achieves", "results--what-a-pilot-achieves"),
        ("1. Choose the database", "1-choose-the-database"),
        ("pilotmon scheduler and jobs", "pilotmon-scheduler-and-jobs"),
        ("See [the API](protocol.md#push)", "see-the-api"),
        ("snake_case names", "snake_case-names"),
    ],
)
def test_anchors_are_the_ones_github_makes(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_repeated_headings_and_code_blocks() -> None:
    page = '# Title\n## Notes\n```\n## Not a heading\n```\n## Notes\n<a id="custom"></a>\n'
    assert anchors_of_markdown(page) == {"title", "notes", "notes-1", "custom"}


def test_a_broken_pointer_is_reported(tmp_path: Path) -> None:
    """The checker finds a wrong anchor, a missing page and a wrong relative link."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n## Push\nSee [pull](other.md#pull) and [push](#push) and [gone](#gone).\n",
        encoding="utf-8",
    )
    (tmp_path / "docs" / "other.md").write_text("# Other\n## Pull\n", encoding="utf-8")
    code = tmp_path / "module.py"
    docs = "doc" + "s/"  # so that this file's own pointers stay real ones
    code.write_text(
        f'"""See {docs}guide.md#push, {docs}guide.md#pul and {docs}missing.md."""\n',
        encoding="utf-8",
    )
    problems = broken_pointers(
        [code, tmp_path / "docs" / "guide.md", tmp_path / "docs" / "other.md"], root=tmp_path
    )
    assert problems == [
        f"module.py:1: {docs}guide.md has no heading with anchor #pul",
        f"module.py:1: {docs}missing.md does not exist",
        f"{docs}guide.md:3: {docs}guide.md has no heading with anchor #gone",
    ]


def test_an_outside_document_is_reported(tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("See " + "../" + "shared/" + "design" + ".md.\n", encoding="utf-8")
    clean = tmp_path / "clean.md"
    clean.write_text("See docs/product.md.\n", encoding="utf-8")
    assert mentions_of_outside_documents([note, clean], root=tmp_path) == [
        "note.md mentions " + "DES" + "IGN.md",
        "note.md mentions " + "../" + "shared/",
    ]


def test_every_setting_is_documented() -> None:
    """docs/cli.md lists every PILOTMON_* setting the server reads, so an operator can find it."""
    from server.config import Settings

    documented = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    missing = [
        f"PILOTMON_{name.upper()}"
        for name in Settings.model_fields
        if f"`PILOTMON_{name.upper()}`" not in documented
    ]
    assert missing == []


def test_every_error_code_is_documented() -> None:
    """docs/errors.md explains every code a client may receive."""
    from shared.errors import ErrorCode

    documented = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert [c.value for c in ErrorCode if f"`{c.value}`" not in documented] == []


# A line git leaves in a file whose merge conflict was not resolved (spelled in two parts so
# that this file does not hold one itself).
CONFLICT_MARKER = re.compile(r"^(?:" + "<" * 7 + r" |" + ">" * 7 + r" |" + "=" * 7 + r"$)")


def conflict_markers(files: list[Path]) -> list[str]:
    """``file:line`` of each unresolved merge-conflict marker in text files."""
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a binary file (an image, a compiled catalogue)
        for number, line in enumerate(text.splitlines(), start=1):
            if CONFLICT_MARKER.match(line):
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                found.append(f"{shown}:{number}")
    return found


def test_no_merge_leaves_conflict_markers() -> None:
    """A merge once left its conflict markers in docs/results.md; no file may keep one."""
    assert conflict_markers(tracked_files()) == []


def test_conflict_markers_are_found(tmp_path: Path) -> None:
    marked = tmp_path / "marked.md"
    marked.write_text(
        "intro\n" + "<" * 7 + " HEAD\nours\n" + "=" * 7 + "\ntheirs\n" + ">" * 7 + " b\n"
    )
    clean = tmp_path / "clean.md"
    clean.write_text("a heading\n" + "=" * 9 + "\n")
    assert conflict_markers([marked, clean]) == [f"{marked}:2", f"{marked}:4", f"{marked}:6"]
