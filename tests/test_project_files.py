"""What a new user meets around the code: the checkout, CI script and README stay in step."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_workbook_of_the_readmes_first_command_is_ignored_by_git():
    lines = (REPO / ".gitignore").read_text().splitlines()
    assert "/mnist_cnn.xlsx" in lines or "mnist_cnn.xlsx" in lines


def test_ci_installs_python3_venv_before_making_a_virtualenv():
    script = (REPO / ".ci" / "run").read_text()
    install = re.search(r"^apt-get install .*$", script, re.M)
    assert install and "python3-venv" in install[0].split()
    assert script.index("python3-venv") < script.index("python3 -m venv")


def test_readme_test_section_names_every_system_package_the_tests_use():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("Run the tests:"):readme.index("## What you get")]
    for package in ("libreoffice-calc-nogui", "python3-uno", "poppler-utils", "fonts-crosextra-carlito"):
        assert package in section, package
    assert "Carlito" in section
