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

# Tests train at 32x16 (2 tokens) and T = 2: the wiring is the same as at 128x64, the arithmetic 16x smaller.
TEST_IMAGE_SIZE = (32, 16)
TEST_ARGS = ["--image-size", "32", "16", "--epochs", "1", "--batch-size", "8", "--max-train-batches", "3",
             "--num-workers", "0", "--device", "cpu", "--no-progress"]


@pytest.fixture(autouse=True)
def one_cpu_thread():
    """Tiny tensors run ~10x faster on one thread than on several fighting over a shared machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    kwargs = {"num_attributes": len(names), "image_size": list(TEST_IMAGE_SIZE),
              "attribute_sentences": attribute_sentences(names)}
    model = create_model("vtb-tiny", **kwargs)
    return save_checkpoint(path, model, ModelCard("vtb-tiny", kwargs, list(names), NORMALIZATION))


@pytest.fixture(scope="session")
def make_teacher():
    return save_untrained_teacher


@pytest.fixture(scope="session")
def teacher_checkpoint(tmp_path_factory, attribute_names) -> Path:
    return save_untrained_teacher(tmp_path_factory.mktemp("teacher") / "teacher.pt", attribute_names)


@pytest.fixture
def tiny_args() -> list[str]:
    """Command-line flags of a tiny run (32x16 images, 1 epoch of 3 batches of 8, CPU)."""
    return list(TEST_ARGS)


@pytest.fixture
def tiny_config(synthetic_root, tmp_path):
    """A factory of tiny training configs (snnpar-tiny at 32x16, T = 2, 3 batches of 8, no workers)."""

    def make(**overrides):
        base = dict(model="snnpar-tiny", data="synthetic", root=str(synthetic_root), out=str(tmp_path / "run"),
                    recipe="demo", epochs=1, batch_size=8, max_train_batches=3, image_size=TEST_IMAGE_SIZE,
                    num_workers=0, progress=False, tensorboard=False, device="cpu", seed=0)
        if overrides.get("model", base["model"]).startswith("snnpar-"):
            base["model_overrides"] = {"time_steps": 2}
        return resolve_config(None, None, {**base, **overrides})

    return make

