"""The shipped model and digits: the default workbook equals Keras, in `formulas` and in LibreOffice."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import IN_CI, assert_matches

REPO = Path(__file__).resolve().parents[1]
PREBUILT = REPO / "workbooks" / "mnist_cnn.xlsx"


def test_shipped_samples_and_model_exist():
    from excelnet.assets import DEFAULT_MODEL, DEFAULT_SAMPLES

    assert DEFAULT_MODEL.stat().st_size > 1000
    with np.load(DEFAULT_SAMPLES) as data:
        assert len(data["x"]) >= 100 and len(data["y"]) == len(data["x"])


def test_default_workbook_size_targets(default_build):
    assert default_build.plan.formula_cells <= 25_000
    assert default_build.network.input_shape == (28, 28, 1)


@pytest.mark.slow
def test_default_workbook_in_formulas_equals_keras(default_build, default_keras_model):
    from excelnet.engines.formulas_engine import FormulasWorkbook

    x = default_build.samples.model_inputs(default_build.network.input_shape)[:2]
    workbook = FormulasWorkbook(default_build.path)
    expected = default_keras_model.predict(x, verbose=0)
    for i in range(len(x)):
        assert_matches(workbook.probabilities(x[i]), expected[i], f"digit {i}:")


@pytest.mark.libreoffice
def test_default_workbook_in_libreoffice_equals_keras_on_20_digits(libreoffice, default_build, default_keras_model):
    x = default_build.samples.model_inputs(default_build.network.input_shape)[:20]
    expected = default_keras_model.predict(x, verbose=0)
    libreoffice.open(default_build.path)
    for i in range(len(x)):
        assert_matches(libreoffice.probabilities(x[i]), expected[i], f"digit {i}:")
        assert libreoffice.errors() == {}, f"error cells after digit {i}"


def test_pixel_edits_inside_soffice_recalculate_to_keras(libreoffice, default_build, default_keras_model):
    """What a student drawing does: one cell typed at a time, LibreOffice's automatic recalculation
    (no calculateAll), timed by the macro the benchmarks use. The result must still equal Keras."""
    from excelnet.errors import ExcelnetError

    x = default_build.samples.model_inputs(default_build.network.input_shape)[3].copy()
    libreoffice.open(default_build.path)
    libreoffice.probabilities(x)
    try:
        seconds = libreoffice.in_office("time_edits", "Canvas", 14, 14, [0.25, 1.0], "Probabilities")
        seconds += libreoffice.in_office("time_edits", "Canvas", 5, 20, [0.75], "Probabilities")
    except ExcelnetError as error:
        if IN_CI:
            pytest.fail(f"LibreOffice's Python macros are required in CI: {error}")
        pytest.skip(f"LibreOffice cannot run Python macros ({error}): apt-get install libreoffice-script-provider-python")
    assert len(seconds) == 3 and all(0 < s < 5 for s in seconds)
    x[14, 14, 0], x[5, 20, 0] = 1.0, 0.75
    got = libreoffice.call("read", names=["Probabilities"])["Probabilities"]
    assert_matches(np.array(got, dtype=np.float64).reshape(-1), default_keras_model.predict(x[None], verbose=0)[0],
                   "after two pixel edits:")


def _parts(path: Path) -> dict[str, bytes]:
    """Every part of the xlsx but the timestamped document properties."""
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist() if n != "docProps/core.xml"}


def test_prebuilt_workbook_is_up_to_date(default_build):
    assert PREBUILT.exists(), f"{PREBUILT} is missing: run `excelnet build -o workbooks/mnist_cnn.xlsx`"
    fresh, shipped = _parts(default_build.path), _parts(PREBUILT)
    stale = sorted(n for n in set(fresh) | set(shipped) if fresh.get(n) != shipped.get(n))
    assert not stale, (f"workbooks/mnist_cnn.xlsx is stale ({', '.join(stale[:5])} differ): "
                       "run `excelnet build -o workbooks/mnist_cnn.xlsx`")


def test_macros_run_when_the_venv_is_activated(default_build, monkeypatch, tmp_path):
    """An activated virtual environment puts its python3 first on PATH. soffice's own Python took
    it for its prefix and every macro call failed (std::bad_alloc): verify's fast path and the
    benchmarks' timings with it. soffice now starts without the venv on its PATH."""
    import sys

    from excelnet.engines.libreoffice import LibreOffice, office_environment, unavailable_reason

    if unavailable_reason():
        if IN_CI:
            pytest.fail(f"LibreOffice is required in CI: {unavailable_reason()}")
        pytest.skip(unavailable_reason())
    venv_bin = Path(sys.prefix) / "bin"
    if not (venv_bin.parent / "pyvenv.cfg").exists():          # run outside a venv: make one
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
        venv_bin = tmp_path / "venv" / "bin"
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv_bin.parent))
    assert str(venv_bin) not in office_environment()["PATH"].split(os.pathsep)
    assert "VIRTUAL_ENV" not in office_environment()
    with LibreOffice() as office:
        office.open(default_build.path)
        seconds = office.in_office("time_recalcs", 2)
    assert len(seconds) == 2 and all(0 < s < 30 for s in seconds)
