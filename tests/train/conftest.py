"""Shared fixtures of the training tests: a tiny synthetic data set and tiny run configs (CPU, seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from snnpar.checkpoint import ModelCard, save_checkpoint
from snnpar.data import NORMALIZATION, attribute_sentences, load_dataset
from snnpar.data.synthetic import generate
from snnpar.models import create_model
from snnpar.train import resolve_config


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """60 synthetic pedestrians at 128x64 (48 train / 6 val / 6 test)."""
    return generate(tmp_path_factory.mktemp("data") / "synth", n=60, seed=0, image_size=(128, 64))


@pytest.fixture(scope="session")
def attribute_names(synthetic_root) -> list[str]:
    return list(load_dataset("synthetic", synthetic_root, "train", image_size=(128, 64)).attribute_names)


def save_untrained_teacher(path: Path, names: list[str], seed: int = 0) -> Path:
    """A vtb-tiny teacher checkpoint with freshly initialised weights (the wiring does not need a good one)."""
    torch.manual_seed(seed)
    kwargs = {"num_attributes": len(names), "image_size": [128, 64], "attribute_sentences": attribute_sentences(names)}
    model = create_model("vtb-tiny", **kwargs)
    return save_checkpoint(path, model, ModelCard("vtb-tiny", kwargs, list(names), NORMALIZATION))


@pytest.fixture(scope="session")
def make_teacher():
    return save_untrained_teacher


@pytest.fixture(scope="session")
def teacher_checkpoint(tmp_path_factory, attribute_names) -> Path:
    return save_untrained_teacher(tmp_path_factory.mktemp("teacher") / "teacher.pt", attribute_names)


@pytest.fixture
def tiny_config(synthetic_root, tmp_path):
    """A factory of tiny training configs (snnpar-tiny, batch 8, no workers, no progress bar)."""

    def make(**overrides):
        base = dict(model="snnpar-tiny", data="synthetic", root=str(synthetic_root), out=str(tmp_path / "run"),
                    recipe="demo", epochs=1, batch_size=8, num_workers=0, progress=False, tensorboard=False,
                    device="cpu", seed=0)
        return resolve_config(None, None, {**base, **overrides})

    return make

