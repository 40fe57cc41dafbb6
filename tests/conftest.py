"""Shared test fixtures."""

from pathlib import Path

import pytest

# Public reference files from the NIR paper (BSD 3-Clause, see LICENSE there), shipped with the tests.
NIR_PAPER_DIR = Path(__file__).parent / "fixtures" / "nir_paper"


@pytest.fixture(scope="session")
def nir_paper_dir() -> Path:
    return NIR_PAPER_DIR
