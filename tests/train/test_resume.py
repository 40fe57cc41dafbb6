"""A run killed in the middle of an epoch and resumed ends bit for bit where an uninterrupted run ends."""

from __future__ import annotations

import csv

import pytest
import torch

from snnpar.checkpoint import read_checkpoint
from snnpar.errors import UserError
from snnpar.train import STATE_FILE, Trainer, read_training_state


class Killed(RuntimeError):
    pass


class KilledTrainer(Trainer):
    """Dies (like a kill -9 would) after `kill_after` optimizer steps."""

    kill_after = 0

    def compute_loss(self, images, labels):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls > self.kill_after:
            raise Killed
        return super().compute_loss(images, labels)


def test_resume_reproduces_the_uninterrupted_run_exactly(tiny_config, teacher_checkpoint, tmp_path):
    # augmentation on, both KD terms: RNG, data order, projection and optimizer state all matter
    common = dict(epochs=2, kd="both", teacher=str(teacher_checkpoint), augment=True)
    full = Trainer(tiny_config(out=str(tmp_path / "full"), **common))
    full.fit()

    killed = KilledTrainer(tiny_config(out=str(tmp_path / "killed"), **common))
    killed.kill_after = killed.steps_per_epoch + 1  # mid-way through the second epoch
    with pytest.raises(Killed):
        killed.fit()
    assert read_training_state(tmp_path / "killed" / STATE_FILE)["epoch"] == 1

    resumed = Trainer(tiny_config(out=str(tmp_path / "killed"), **common), resume=True)
    assert resumed.start_epoch == 1
    resumed.fit()

    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resume"
    assert torch.equal(full.projection.linear.weight, resumed.projection.linear.weight)
    opt_a, opt_b = full.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    for i in opt_a:
        assert torch.equal(opt_a[i]["exp_avg_sq"], opt_b[i]["exp_avg_sq"])
    assert full.scheduler.last_epoch == resumed.scheduler.last_epoch == 2 * full.steps_per_epoch

    # the files on disk agree too: last.pt weights and one metrics row per epoch
    last_a = read_checkpoint(tmp_path / "full" / "last.pt")["state_dict"]
    last_b = read_checkpoint(tmp_path / "killed" / "last.pt")["state_dict"]
    assert all(torch.equal(last_a[k], last_b[k]) for k in last_a)
    with open(tmp_path / "killed" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    with open(tmp_path / "full" / "metrics.csv") as f:
        assert [r["val_mA"] for r in csv.DictReader(f)] == [r["val_mA"] for r in rows]


def test_a_new_run_refuses_to_overwrite_and_resume_needs_a_run(tiny_config, tmp_path):
    Trainer(tiny_config(out=str(tmp_path / "a"))).fit()
    with pytest.raises(UserError, match="--resume"):
        Trainer(tiny_config(out=str(tmp_path / "a")))
    with pytest.raises(UserError, match="nothing to resume"):
        Trainer(tiny_config(out=str(tmp_path / "b")), resume=True)
