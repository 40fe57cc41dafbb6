"""`snnpar train --qat loihi2 --init CKPT`: what validation logs for best.pt is what `snnpar eval` computes on it,
to the last digit (float training: the float model; QAT: the integer network, as `--backend loihi2-fixed`);
bad requests are one clear error each."""

from __future__ import annotations

import json
import re

import nir
import numpy as np
import pytest

from hw_sim.chip.deployment import chip_model
from hw_sim.chip.quantize import quantize
from hw_sim.simulator.lowering import lower
from snnpar.checkpoint import read_checkpoint
from snnpar.cli import main
from snnpar.errors import UserError
from snnpar.evaluate import evaluate_checkpoint

METRICS = ("mA", "accuracy", "precision", "recall", "f1")


def _logged_equals_evaluated(run_dir, root, deploy=None) -> None:
    logged = read_checkpoint(run_dir / "best.pt")["extra"]["val_metrics"]
    result = evaluate_checkpoint(run_dir / "best.pt", "synthetic", root, "val", deploy=deploy)
    for key in METRICS:
        assert getattr(result.metrics, key) == logged[f"val_{key}"], key


def test_float_then_qat_validation_equals_eval_to_the_last_digit(synthetic_root, tiny_args, tmp_path, capsys):
    root = ["--data", "synthetic", "--root", str(synthetic_root)]
    float_dir, qat_dir = tmp_path / "float", tmp_path / "qat"
    assert main(["train", "--model", "snnpar-tiny", *tiny_args, *root, "--time-steps", "2", "--out", str(float_dir)]) == 0
    _logged_equals_evaluated(float_dir, synthetic_root)
    assert read_checkpoint(float_dir / "best.pt")["extra"]["validation_backend"] == "float"

    assert main(["train", "--model", "snnpar-tiny", *tiny_args, *root, "--time-steps", "2", "--out", str(qat_dir),
                 "--init", str(float_dir / "best.pt"), "--qat", "loihi2", "--lr", "1e-4"]) == 0
    extra = read_checkpoint(qat_dir / "best.pt")["extra"]
    assert extra["validation_backend"] == "loihi2-fixed"
    assert extra["loihi2"]["scales"]["tokenizer.proj1_lif"] >= 1 and extra["loihi2"]["input_scale"] > 1
    assert json.loads((qat_dir / "config.json").read_text())["loihi2_formats"] == extra["loihi2"]  # kept on --resume
    _logged_equals_evaluated(qat_dir, synthetic_root, deploy=chip_model)
    capsys.readouterr()
    assert main(["eval", str(qat_dir / "best.pt"), *root, "--split", "val", "--backend", "loihi2-fixed", "--no-progress",
                 "--out", str(tmp_path / "eval")]) == 0
    assert "backend loihi2-fixed" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--model", "vtb-tiny", "--qat", "loihi2"], "--qat loihi2 trains Spikingformer students.*vtb-tiny is a teacher"),
    (["--model", "vit-tiny", "--qat", "loihi2"], "vit-tiny is a baseline: train it without --qat"),
    (["--model", "snnpar-tiny", "--qat", "loihi9"], "'loihi9' is not a quantisation-aware backend; known: loihi2"),
])
def test_qat_on_what_it_cannot_train_is_one_clear_error(argv, message, synthetic_root, tiny_args, tmp_path, capsys):
    code = main(["train", *argv, *tiny_args, "--data", "synthetic", "--root", str(synthetic_root),
                 "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_an_unknown_eval_backend_is_refused(synthetic_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["eval", str(tmp_path / "x.pt"), "--data", "synthetic", "--root", str(synthetic_root), "--backend", "tpu"])
    assert stop.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


def test_a_graph_node_without_a_loihi2_mapping_is_named():
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])),
                                "scale": nir.Scale(scale=np.ones(4)),
                                "output": nir.Output(output_type=np.array([4]))},
                         edges=[("input", "scale"), ("scale", "output")])
    with pytest.raises(UserError, match=r"node 'scale' has type Scale, which hw_sim \(Lava\) does not run; it runs .*LIF"):
        quantize(lower(graph))
