"""`snnpar simulate model.nir --images a.png b.png --mode float` end to end: checkpoint -> NIR -> Lava -> attributes,
equal to the reference executor on the same images; bad paths give one clear line, not a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from spiking_fixtures import IMAGE_SIZE, firing_student
from spiking_fixtures import TIME_STEPS as T

from export import export_nir, read_graph
from export.executor import readout_logits, run_graph
from snnpar.checkpoint import ModelCard, load_model, save_checkpoint
from snnpar.cli import main

NAMES = ["hat", "backpack", "female", "long_hair", "boots"]
NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    kwargs = {"image_size": list(IMAGE_SIZE), "time_steps": T, "attention": "sdsa", "num_attributes": len(NAMES)}
    save_checkpoint(folder / "student.pt", firing_student("sdsa", seed=2, num_attributes=len(NAMES)),
                    ModelCard("snnpar-tiny", kwargs, NAMES, NORMALIZATION))
    model, card = load_model(folder / "student.pt")
    export_nir(model, folder / "model.nir", preset=card.preset, attribute_names=card.attribute_names,
               normalization=card.normalization)
    rng = np.random.default_rng(5)
    paths = []
    for i in range(2):
        paths.append(folder / f"person{i}.png")
        Image.fromarray(rng.integers(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8)).save(paths[-1])
    return folder, paths


def test_simulate_prints_and_writes_the_attributes_the_graph_computes(exported, capsys):
    folder, paths = exported
    rc = main(["simulate", str(folder / "model.nir"), "--images", *map(str, paths), "--mode", "float",
               "--out", str(folder / "sim")])
    out = capsys.readouterr().out
    assert rc == 0
    summary = json.loads((folder / "sim" / "summary.json").read_text())
    spikes = np.load(folder / "sim" / "spikes.npz")
    assert not list((folder / "sim").glob("*.tmp"))

    pixels = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float64).transpose(2, 0, 1) / 255.0
                       for p in paths])
    images = (pixels - np.array(NORMALIZATION["mean"])[:, None, None]) / np.array(NORMALIZATION["std"])[:, None, None]
    graph = read_graph(folder / "model.nir")
    outputs = run_graph(graph, images)
    expected = readout_logits(graph, outputs).numpy()
    np.testing.assert_allclose(summary["logits"], expected, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(spikes["blocks.0.attn.attn_lif"], outputs["blocks.0.attn.attn_lif"].numpy())
    assert summary["attribute_names"] == NAMES and summary["mode"] == "float"
    for b in range(2):
        on = [NAMES[i] for i in np.flatnonzero(expected[b] > 0)]
        assert f"image {b}: {', '.join(on) or '(none)'}" in out
    assert "blocks.0.mlp.mlp2_lif" in out and "Lava processes" in out


def test_missing_model_file_is_one_clear_line(exported, tmp_path, capsys):
    _, paths = exported
    rc = main(["simulate", str(tmp_path / "nowhere.nir"), "--images", str(paths[0])])
    err = capsys.readouterr().err
    assert rc == 2 and "nowhere.nir" in err and "does not exist" in err and "Traceback" not in err


def test_unreadable_image_is_named(exported, tmp_path, capsys):
    folder, _ = exported
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    rc = main(["simulate", str(folder / "model.nir"), "--images", str(bad)])
    assert rc == 2 and "not_an_image.png" in capsys.readouterr().err


def test_unsupported_node_type_is_named(tmp_path, capsys):
    import nir

    shape = (3, 2, 2)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array(shape)),
               "late": nir.Delay(delay=np.full(shape, 2.0)),
               "output": nir.Output(output_type=np.array(shape))},
        edges=[("input", "late"), ("late", "output")], metadata={"dt": 1e-3, "time_steps": 2})
    nir.write(tmp_path / "late.nir", graph)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((2, 2, 3), dtype=np.uint8)).save(img)
    rc = main(["simulate", str(tmp_path / "late.nir"), "--images", str(img)])
    err = capsys.readouterr().err
    assert rc == 2 and "'late'" in err and "Delay" in err, err
