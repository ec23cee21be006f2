"""`excelnet build` as a user meets it: help, version, the default build, no TensorFlow needed."""

from __future__ import annotations

import zipfile

from click.testing import CliRunner

from excelnet import __version__
from excelnet.cli import main

from conftest import run_cli_without_tensorflow


def test_help_lists_build():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "build" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_build_default_model_writes_a_macro_free_workbook(tmp_path):
    out = tmp_path / "digits.xlsx"
    result = CliRunner().invoke(main, ["build", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "formula cells" in result.output
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert not any("vbaProject" in n for n in names)
    assert "xl/workbook.xml" in names


def test_build_default_without_output_writes_into_current_folder(tmp_path):
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        result = runner.invoke(main, ["build"])
        assert result.exit_code == 0, result.output
        import pathlib

        assert pathlib.Path("mnist_cnn.xlsx").stat().st_size > 10_000


def test_build_works_with_tensorflow_unimportable(tmp_path):
    out = tmp_path / "no_tf.xlsx"
    run = run_cli_without_tensorflow("build", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert "ran without tensorflow" in run.stdout
    assert out.stat().st_size > 10_000
