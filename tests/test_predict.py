"""`snnpar predict` with a damaged image among good ones: the good ones are predicted and drawn, the
damaged one is named, and the command exits 2."""

from __future__ import annotations

import numpy as np
from PIL import Image

from snnpar.checkpoint import ModelCard, save_checkpoint
from snnpar.cli import main
from snnpar.models import create_model


def test_a_truncated_image_is_named_and_the_readable_ones_are_still_drawn(tmp_path, capsys):
    kwargs = {"image_size": [32, 16], "time_steps": 2, "num_attributes": 3}
    ckpt = save_checkpoint(tmp_path / "best.pt", create_model("snnpar-tiny", **{**kwargs, "image_size": (32, 16)}),
                           ModelCard("snnpar-tiny", kwargs, ["hat", "bag", "coat"], {"mean": [0.5] * 3, "std": [0.5] * 3}))
    rng = np.random.default_rng(0)
    good = tmp_path / "good.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 32, 3), dtype=np.uint8)).save(good, quality=95)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    draw = tmp_path / "drawn"
    assert main(["predict", str(ckpt), str(truncated), str(good), "--all", "--draw", str(draw)]) == 2
    out, err = capsys.readouterr()
    assert f"{good}:" in out and "hat" in out
    assert sorted(p.name for p in draw.iterdir()) == ["good.png"]
    assert err.count("\n") == 1 and str(truncated) in err and "cannot be decoded" in err
