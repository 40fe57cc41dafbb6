"""A run killed in the middle of an epoch and resumed ends bit for bit where an uninterrupted run ends."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
import torch

from snnpar.checkpoint import read_checkpoint
from snnpar.cli import main
from snnpar.errors import UserError
from snnpar.train import STATE_FILE, STATE_FORMAT, Trainer, read_training_state


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


def _file_bytes(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_copied_run_folder_resumes_into_itself_bit_exactly_and_the_original_is_untouched(
        tiny_config, synthetic_root, tmp_path, monkeypatch):
    """The run starts with a relative --out and --root; its copy is resumed from another working
    directory by the CLI: it continues in the copy, ends with the weights of an uninterrupted run, and
    not one byte of the original changes."""
    common = dict(epochs=2, augment=True)
    full = Trainer(tiny_config(out=str(tmp_path / "full"), **common))
    full.fit()

    first_cwd = tmp_path / "first"
    first_cwd.mkdir()
    monkeypatch.chdir(first_cwd)
    killed = KilledTrainer(tiny_config(out="run", root=os.path.relpath(synthetic_root, first_cwd), **common))
    killed.kill_after = killed.steps_per_epoch + 1
    with pytest.raises(Killed):
        killed.fit()
    original = first_cwd / "run"
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(original, copy)
    before = _file_bytes(original)

    other_cwd = tmp_path / "other"
    other_cwd.mkdir()
    monkeypatch.chdir(other_cwd)
    assert main(["train", "--out", str(copy), "--resume"]) == 0

    assert _file_bytes(original) == before, "resuming the copy changed the original run folder"
    assert list(other_cwd.iterdir()) == [], "resuming wrote into the working directory"
    resumed = read_checkpoint(copy / "last.pt")["state_dict"]
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed[key]), f"{key} differs after resuming the copy"
    with open(copy / "metrics.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2]


def test_a_fresh_run_never_overwrites_checkpoints_without_force(tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes(b"someone's model")
    with pytest.raises(UserError, match=r"best\.pt.*--force"):
        Trainer(tiny_config(out=str(run)))
    assert (run / "best.pt").read_bytes() == b"someone's model"
    Trainer(tiny_config(out=str(run)), force=True).fit()
    assert read_checkpoint(run / "best.pt")["format"] == "snnpar-checkpoint-v1"


LEGACY_RUN = Path(__file__).parents[1] / "fixtures" / "legacy_v1_run"


def test_a_run_folder_written_before_v2_states_still_loads_and_resumes(synthetic_root, tmp_path, capsys):
    """A real v1 run folder (tests/fixtures/legacy_v1_run: numpy RNG arrays and a pickled TrainConfig in its
    state, paths relative to another working directory) resumes with weights_only loading; its data root,
    which moved, is given with --root."""
    run = tmp_path / "legacy"
    shutil.copytree(LEGACY_RUN, run)
    assert read_training_state(run / STATE_FILE)["format"] == "snnpar-train-state-v1"
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--root", str(synthetic_root)]) == 0
    assert "epoch 2/2" in capsys.readouterr().out
    with open(run / "metrics.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2]
    assert read_training_state(run / STATE_FILE)["format"] == STATE_FORMAT  # written the new way
    assert torch.serialization.get_unsafe_globals_in_checkpoint(run / STATE_FILE) == []
    assert main(["eval", str(LEGACY_RUN / "best.pt"), "--data", "synthetic", "--root", str(synthetic_root),
                 "--out", str(tmp_path / "eval")]) == 0


def test_a_legacy_state_carrying_anything_beyond_numpy_and_the_config_is_refused(tmp_path, monkeypatch):
    marker = tmp_path / "PAYLOAD_RAN"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    state = torch.load(LEGACY_RUN / STATE_FILE, weights_only=False)  # the fixture is ours
    state["history"].append({"note": Payload()})
    torch.save(state, tmp_path / STATE_FILE)
    with pytest.raises(UserError, match=r"posix\.system.*refused"):
        read_training_state(tmp_path / STATE_FILE)
    assert not marker.exists()
