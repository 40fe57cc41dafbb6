"""Bad inputs to the training commands fail early with an error that names the problem and the fix."""

from __future__ import annotations

import pytest
import torch

from snnpar.checkpoint import ModelCard, save_checkpoint
from snnpar.cli import main
from snnpar.data import NORMALIZATION, load_dataset
from snnpar.errors import UserError
from snnpar.models import create_model
from snnpar.train import Trainer, resolve_config


def test_missing_teacher_checkpoint_is_named(synthetic_root, tiny_args, tmp_path, capsys):
    missing = tmp_path / "nowhere" / "best.pt"
    code = main(["train", "--model", "snnpar-tiny", *tiny_args, "--no-tensorboard", "--data", "synthetic", "--root", str(synthetic_root), "--out", str(tmp_path / "r"),
                 "--teacher", str(missing), "--kd", "both"])
    err = capsys.readouterr().err
    assert code == 2 and str(missing) in err and "does not exist" in err


def test_teacher_trained_on_other_attributes_is_refused(tiny_config, make_teacher, tmp_path):
    other = make_teacher(tmp_path / "other.pt", ["Hat", "Glasses", "Skirt"])
    with pytest.raises(ValueError, match=r"other\.pt.*does not fit the data set.*3 vs 26 attributes"):
        Trainer(tiny_config(kd="response", teacher=str(other)))


def test_kd_without_teacher_and_unknown_options_are_refused(tmp_path):
    with pytest.raises(ValueError, match="needs a teacher checkpoint"):
        resolve_config("demo", None, dict(model="snnpar-tiny", data="synthetic", kd="both"))
    with pytest.raises(ValueError, match="unknown training option"):
        resolve_config("demo", {"learning_rate": 1.0}, dict(model="snnpar-tiny", data="synthetic"))
    with pytest.raises(ValueError, match="unknown recipe"):
        resolve_config("fast", None, dict(model="snnpar-tiny", data="synthetic"))


def test_a_teacher_cannot_be_distilled_and_feature_kd_needs_a_vtb(tiny_config, teacher_checkpoint, tmp_path):
    with pytest.raises(ValueError, match="is a teacher"):
        Trainer(tiny_config(model="vtb-tiny", kd="response", teacher=str(teacher_checkpoint)))
    Trainer(tiny_config(model="vit-tiny", out=str(tmp_path / "vit"))).fit()  # an ANN baseline as the "teacher"
    with pytest.raises(ValueError, match="feature KD needs a VTB teacher"):
        Trainer(tiny_config(kd="feature", teacher=str(tmp_path / "vit" / "best.pt")))


def test_eval_of_a_missing_checkpoint_fails_clearly(synthetic_root, tmp_path, capsys):
    code = main(["eval", str(tmp_path / "none.pt"), "--data", "synthetic", "--root", str(synthetic_root)])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_an_unknown_data_set_is_named_before_anything_else(tmp_path, capsys):
    code = main(["train", "--model", "snnpar-tiny", "--data", "nosuch", "--root", str(tmp_path), "--out",
                 str(tmp_path / "r"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown data set 'nosuch'" in err and "warm" not in err


def test_a_data_root_that_is_a_file_is_called_a_file(tmp_path, capsys):
    root = tmp_path / "data.zip"
    root.write_bytes(b"PK")
    assert main(["data", "info", "--data", "pa100k", "--root", str(root)]) == 2
    assert f"data root {root} is a file" in capsys.readouterr().err
    from snnpar.data import load_dataset

    with pytest.raises(UserError, match=r"data\.zip is a file; pass the folder"):
        load_dataset("pa100k", root, "train")


def test_eval_of_a_partition_the_data_set_does_not_have_is_refused(synthetic_root, tmp_path, capsys):
    """The synthetic set (PA100K's layout) has one partition: --partition 3 names the file and the range."""
    torch.manual_seed(0)
    names = list(load_dataset("synthetic", synthetic_root, "test", image_size=(128, 64)).attribute_names)
    kwargs = {"num_attributes": len(names), "image_size": [32, 16], "time_steps": 2}
    ckpt = save_checkpoint(tmp_path / "s.pt", create_model("snnpar-tiny", **kwargs),
                           ModelCard("snnpar-tiny", kwargs, names, NORMALIZATION))
    code = main(["eval", str(ckpt), "--data", "synthetic", "--root", str(synthetic_root), "--partition", "3",
                 "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "annotation.mat" in err[0] and "partition_index 3 out of range" in err[0] and "(0..0)" in err[0]
    assert not (tmp_path / "eval").exists()
