"""Both notebooks execute top to bottom on the synthetic data; a failing cell fails the test."""

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["01_lava_energy.ipynb", "02_fidelity.ipynb"])
def test_notebook_runs(name, tmp_path, monkeypatch):
    monkeypatch.setenv("SNNPAR_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(NOTEBOOKS.parent), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   extra_arguments=[f"--IPKernelApp.exec_lines=import sys; sys.executable = {sys.executable!r}"]).execute()
    assert any(p.suffix == ".png" for p in tmp_path.iterdir())
