"""What a new user meets around the code: the checkout, CI script, README and docs stay in step."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CI = REPO / ".ci" / "run"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS, REPO / "benchmarks" / "RESULTS.md"]


def test_the_workbook_of_the_readmes_first_command_is_ignored_by_git():
    lines = (REPO / ".gitignore").read_text().splitlines()
    assert "/mnist_cnn.xlsx" in lines or "mnist_cnn.xlsx" in lines


def test_ci_installs_python3_venv_before_making_a_virtualenv():
    script = CI.read_text()
    install = re.search(r"^apt-get install .*$", script, re.M)
    assert install and "python3-venv" in install[0].split()
    assert script.index("python3-venv") < script.index("python3 -m venv")


# --- the README: short, and its commands are the ones CI runs --------------------------------


def test_readme_is_read_in_two_minutes():
    lines = README.read_text().splitlines()
    assert len(lines) <= 120, f"README.md has {len(lines)} lines (at most 120: move reference to docs/)"


def _code_block_after(text: str, marker: str) -> str:
    """The first fenced block after the line containing `marker`."""
    start = text.index(marker)
    block = re.search(r"^```\w*\n(.*?)^```", text[start:], re.S | re.M)
    assert block, f"no code block after {marker!r}"
    return block[1].strip()


def _steps(command: str) -> list[list[str]]:
    """A shell line's `&&` steps as words, without pip's -q (CI is quieter, not different)."""
    return [[word for word in shlex.split(step) if word != "-q"] for step in command.split("&&")]


def _ci_commands() -> list[list[str]]:
    lines = [line.strip() for line in CI.read_text().splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def test_readmes_test_command_is_the_one_ci_runs():
    command = _code_block_after(README.read_text(), "Run the tests")
    steps = _steps(command)
    assert steps[-1][-2:] == ["-m", "pytest"], command
    ci = [[word for word in line if word != "-q"] for line in _ci_commands()]
    for step in steps:
        assert step in ci, f"the README's step {' '.join(step)!r} is not a line of .ci/run"
    # The README's pytest line is CI's last command: nothing runs after it, nothing else is tested.
    assert ci[-1] == steps[-1]


def test_readmes_build_command_makes_the_venv_ci_makes():
    command = _code_block_after(README.read_text(), "Build the workbook")
    steps = _steps(command)
    ci = _ci_commands()
    assert steps[0] == ["python3", "-m", "venv", ".venv"] and steps[0] in ci
    assert steps[1][:3] == [".venv/bin/pip", "install", "-e"]
    assert steps[-1] == [".venv/bin/excelnet", "build"]


def _apt_packages(text: str) -> set[str]:
    found = re.search(r"apt-get install ([^`\n]*)", text)
    assert found, "no apt-get install line"
    return {word for word in found[1].split() if not word.startswith("-") and word not in (">/dev/null",)}


def test_readme_names_every_system_package_ci_installs():
    assert _apt_packages(README.read_text()) == _apt_packages(CI.read_text())


# --- the engine table: the README's short one agrees with docs/engines.md ---------------------


def _table_after(text: str, marker: str) -> list[list[str]]:
    """Rows (cells stripped) of the first markdown table after `marker`, header and rule left out."""
    rows = []
    for line in text[text.index(marker):].splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))])   # \| is text
        elif rows:
            break
    return rows[2:]


def test_readme_engine_table_agrees_with_docs_engines():
    readme = _table_after(README.read_text(), "## Which spreadsheet programs")
    engines = _table_after((REPO / "docs" / "engines.md").read_text(), "| engine |")
    assert readme, "no engine table in the README"
    assert [row[:2] for row in readme] == [row[:2] for row in engines]
    for short, full in zip(readme, engines):
        untested = full[1] == "not tested here"
        assert (short[2] == "—") == untested, short


# --- every relative link and #anchor in the README and docs resolves -------------------------


def _without_code(text: str) -> str:
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _links(page: Path) -> list[str]:
    text = _without_code(page.read_text())
    return re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, re.M):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)      # a link's text only
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    broken = []
    for link in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):          # http:, https:, mailto: ...
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link} (no file {target.relative_to(REPO) if REPO in target.parents else target})")
        elif anchor and target.suffix == ".md" and anchor not in _anchors(target):
            broken.append(f"{link} (no heading #{anchor} in {target.name})")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_link_checker_sees_a_broken_link_and_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A title (`x`)\n\n[ok](#a-title-x) [bad](#nothing) [gone](missing.md) `[code](no.md)`\n")
    assert _links(page) == ["#a-title-x", "#nothing", "missing.md"]
    assert _anchors(page) == {"a-title-x"}


def test_readme_shows_three_pictures_that_exist():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text())
    assert len(pictures) == 3
    assert all((REPO / picture).is_file() for picture in pictures)


# --- benchmarks/RESULTS.md: the target table stays on top, run_all.py rewrites only its blocks ---


def test_results_open_with_the_target_table():
    text = (REPO / "benchmarks" / "RESULTS.md").read_text()
    rows = _table_after(text, "## Targets at a glance")
    assert text.index("## Targets at a glance") < text.index("<!-- ")      # above every measured block
    assert len(rows) >= 25 and all(len(row) == 4 and all(row) for row in rows), rows


def test_run_all_replaces_only_its_own_blocks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_all", REPO / "benchmarks" / "run_all.py")
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    name, title, _ = run_all.BENCHMARKS[0]
    text = (f"# Benchmark results\n\n## Targets at a glance\n\n| a | b |\n\n## {title}\n\n<!-- {name} -->\n"
            f"old output\n<!-- /{name} -->\n\nwhat it means, by hand\n\n## Issue 99\n\nhand-written\n")
    new = run_all.replace_blocks(text, {name: "new output\n"})
    assert new == text.replace("old output", "new output")
    added = run_all.replace_blocks(text, {run_all.BENCHMARKS[1][0]: "more\n"})
    assert added.startswith(text.rstrip("\n")) and added.endswith(f"<!-- /{run_all.BENCHMARKS[1][0]} -->\n")


# --- docs/commands.md names every command and option the CLI has ------------------------------


def test_commands_page_names_every_command_and_option():
    from excelnet.cli import main

    page = (REPO / "docs" / "commands.md").read_text()
    missing = []
    for name, command in main.commands.items():
        if f"## excelnet {name}" not in page:
            missing.append(f"section for {name}")
        section = page[page.index(f"## excelnet {name}"):] if f"## excelnet {name}" in page else ""
        section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section
        for parameter in command.params:
            for option in parameter.opts + parameter.secondary_opts:
                if option.startswith("-") and option not in ("-h", "--help") and option not in section:
                    missing.append(f"{name} {option}")
    assert not missing, "docs/commands.md lacks: " + ", ".join(missing)
