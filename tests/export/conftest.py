"""Shared fixtures for the export tests: a tiny student (64x32 images, T=4) that actually fires."""

from __future__ import annotations

import pytest
import torch
from spiking_fixtures import IMAGE_SIZE


@pytest.fixture(scope="session")
def images() -> torch.Tensor:
    return torch.randn(2, 3, *IMAGE_SIZE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
