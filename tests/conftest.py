"""Shared test fixtures."""

from pathlib import Path

import pytest

from hw_sim.simulator.simulation import import_lava_runtime

# Lava fixes the multiprocessing start method when first imported; do it before any test (a DataLoader
# with workers in a training test would otherwise fix it first). See import_lava_runtime.
import_lava_runtime()

# Public reference files from the NIR paper (BSD 3-Clause, see LICENSE there), shipped with the tests.
NIR_PAPER_DIR = Path(__file__).parent / "fixtures" / "nir_paper"


@pytest.fixture(scope="session")
def nir_paper_dir() -> Path:
    return NIR_PAPER_DIR
