"""Every command, given each kind of damaged input, fails the same way: exit status 2, one line naming the
file, no traceback, no new file, and no code from the file run (the fuzz test and the payload test of
issue 16).

Each case copies the valid workspace's file it damages into its own folder, runs `snnpar.cli.main` in
this process (every case fails before Lava would start) and checks the contract. The table of outcomes
(command x damaged input) is written to $SNNPAR_DAMAGE_TABLE when that is set.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from damaged_files import (
    MARKER_ENV,
    annotation_nan,
    annotation_payload,
    annotation_wrong_shape,
    another_files_bytes,
    checkpoint_nan,
    checkpoint_payload,
    checkpoint_unknown_preset,
    checkpoint_wrong_shape,
    config_nan,
    config_unknown_key,
    config_wrong_shape,
    config_wrong_type,
    empty,
    nir_nan,
    nir_payload,
    nir_unknown_node,
    nir_wrong_shape,
    payload_marker,
    random_bytes,
    state_nan,
    state_payload,
    state_wrong_shape,
    truncated,
)
from PIL import Image

from snnpar.checkpoint import ModelCard, save_checkpoint
from snnpar.cli import main
from snnpar.data import NORMALIZATION, load_dataset
from snnpar.data.synthetic import generate
from snnpar.models import create_model

SIZE = (32, 16)  # 2 tokens: every file is small
DAMAGES = ("truncated", "random bytes", "empty", "wrong type", "wrong shape", "unknown node", "NaN", "payload")
OUTCOMES: dict[tuple[str, str], str] = {}
MESSAGES: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Valid inputs of every command: a synthetic data set, a student checkpoint and its NIR graph, an image,
    and a finished training run (snnpar-tiny at 32x16, T = 2: every file is small)."""
    root = tmp_path_factory.mktemp("valid")
    os.environ[MARKER_ENV] = str(tmp_path_factory.mktemp("payload") / "PAYLOAD_RAN")
    data = generate(root / "data", n=12, seed=0, image_size=SIZE, workers=1)
    names = list(load_dataset("synthetic", data, "train", image_size=SIZE).attribute_names)
    kwargs = {"num_attributes": len(names), "image_size": list(SIZE), "time_steps": 2, "attention": "ssa"}
    model = create_model("snnpar-tiny", **{**kwargs, "image_size": SIZE})
    save_checkpoint(root / "student.pt", model, ModelCard("snnpar-tiny", kwargs, names, NORMALIZATION))
    assert main(["export-nir", str(root / "student.pt"), "-o", str(root / "student.nir")]) == 0
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(root / "person.png")
    assert main(["train", "--model", "snnpar-tiny", "--data", "synthetic", "--root", str(data), "--out",
                 str(root / "run"), "--image-size", *map(str, SIZE), "--time-steps", "2", "--epochs", "1",
                 "--batch-size", "4", "--max-train-batches", "1", "--num-workers", "0", "--device", "cpu",
                 "--no-progress", "--no-tensorboard", "--threads", "1"]) == 0
    yield root
    table = os.environ.get("SNNPAR_DAMAGE_TABLE")
    if table:
        Path(table).write_text(outcome_table())


# file kind -> (where it lives in the workspace, {damage: writer}); a damage a kind cannot have is absent
def damage_writers(kind: str, ws: Path) -> tuple[str, dict]:
    common = {"truncated": truncated, "random bytes": random_bytes, "empty": empty}
    return {
        "checkpoint": ("student.pt", {**common, "wrong type": another_files_bytes(ws / "student.nir"),
                                      "wrong shape": checkpoint_wrong_shape, "unknown node": checkpoint_unknown_preset,
                                      "NaN": checkpoint_nan, "payload": checkpoint_payload}),
        "NIR graph": ("student.nir", {**common, "wrong type": another_files_bytes(ws / "student.pt"),
                                      "wrong shape": nir_wrong_shape, "unknown node": nir_unknown_node,
                                      "NaN": nir_nan, "payload": nir_payload}),
        "image": ("person.png", {**common, "wrong type": another_files_bytes(ws / "student.nir")}),
        "annotation": ("data/annotation.mat", {**common, "wrong type": another_files_bytes(ws / "person.png"),
                                               "wrong shape": annotation_wrong_shape, "NaN": annotation_nan,
                                               "payload": annotation_payload}),
        "training state": ("run/train_state.pt", {**common, "wrong type": another_files_bytes(ws / "student.pt"),
                                                  "wrong shape": state_wrong_shape, "NaN": state_nan,
                                                  "payload": state_payload}),
        "run config": ("run/config.json", {**common, "wrong type": config_wrong_type, "wrong shape": config_wrong_shape,
                                           "unknown node": config_unknown_key, "NaN": config_nan}),
    }[kind]


TINY_TRAIN = ["--image-size", *map(str, SIZE), "--time-steps", "2", "--epochs", "1", "--batch-size", "4",
              "--max-train-batches", "1", "--num-workers", "0", "--device", "cpu", "--no-progress", "--no-tensorboard"]


def command_line(command: str, p: dict[str, Path], out: Path) -> list[str]:
    """argv of `command` reading the files in `p` (kind -> path), writing under `out`."""
    data = ["--data", "synthetic", "--root", str(p["data"])]
    return {
        "eval": ["eval", str(p["checkpoint"]), *data, "--out", str(out / "eval")],
        "predict": ["predict", str(p["checkpoint"]), str(p["image"]), "--draw", str(out / "drawn")],
        "export-nir": ["export-nir", str(p["checkpoint"]), "-o", str(out / "model.nir")],
        "simulate": ["simulate", str(p["NIR graph"]), "--images", str(p["image"]), "--out", str(out / "sim")],
        "compare": ["compare", str(p["checkpoint"]), "--nir", str(p["NIR graph"]), *data, "--n", "1", "--modes",
                    "float", "--out", str(out / "cmp")],
        "energy": ["energy", str(p["checkpoint"]), "--nir", str(p["NIR graph"]), *data, "--n", "1",
                   "--out", str(out / "energy.json")],
        "train --teacher": ["train", "--model", "snnpar-tiny", *data, "--out", str(out / "run"), "--teacher",
                            str(p["checkpoint"]), "--kd", "response", *TINY_TRAIN],
        "train": ["train", "--model", "snnpar-tiny", *data, "--out", str(out / "run"), *TINY_TRAIN],
        "train --resume": ["train", "--out", str(p["run"]), "--resume"],
        "data info": ["data", "info", *data],
    }[command]


# which file kinds each command reads
READS = {
    "eval": ("checkpoint", "annotation"), "predict": ("checkpoint", "image"), "export-nir": ("checkpoint",),
    "simulate": ("NIR graph", "image"), "compare": ("checkpoint", "NIR graph", "annotation"),
    "energy": ("checkpoint", "NIR graph", "annotation"), "train --teacher": ("checkpoint",), "train": ("annotation",),
    "train --resume": ("training state", "run config"), "data info": ("annotation",),
}
KINDS = ("checkpoint", "NIR graph", "image", "annotation", "training state", "run config")


def applicable(kind: str, damage: str) -> bool:
    """Whether a file of `kind` can be damaged that way (an image has no NaN, a JSON file no shape)."""
    return damage in damage_writers(kind, Path("."))[1]


CASES = [(command, kind, damage) for command, kinds in READS.items() for kind in kinds for damage in DAMAGES
         if applicable(kind, damage)]


def files_under(*folders: Path) -> set[Path]:
    return {p for folder in folders for p in folder.rglob("*")}


def run_damaged(workspace: Path, case: Path, command: str, kind: str, damage: str, capsys) -> tuple[int, str, Path]:
    """Copy the file of `kind` (with its folder, for data and runs) into `case`, damage it, run `command`."""
    relative, writers = damage_writers(kind, workspace)
    paths = {k: workspace / damage_writers(k, workspace)[0] for k in KINDS}
    paths["data"], paths["run"] = workspace / "data", workspace / "run"
    top = relative.split("/")[0]
    if "/" in relative:  # the data set or the run folder: copied whole
        shutil.copytree(workspace / top, case / top)
        paths["data" if top == "data" else "run"] = case / top
    damaged = case / relative
    writers[damage](workspace / relative, damaged)
    paths[kind] = damaged
    if damage == "payload" and kind == "annotation":
        damaged = case / "data" / "dataset.pkl"
    out = case / "out"
    before = files_under(case, workspace)
    capsys.readouterr()
    code = main(command_line(command, paths, out))
    err = capsys.readouterr().err
    new = files_under(case, workspace) - before
    assert not new, f"new files: {sorted(map(str, new))}"
    return code, err, damaged


def record(command: str, kind: str, damage: str, outcome: str) -> None:
    OUTCOMES[(f"{command} ({kind})", damage)] = outcome


def check_contract(code: int, err: str, damaged: Path, case: tuple[str, str]) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    MESSAGES[case] = lines[-1] if lines else "(nothing on stderr)"
    assert "Traceback" not in err, err
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert str(damaged) in lines[0], f"the message does not name {damaged}: {lines[0]}"
    assert not payload_marker().exists(), "the payload ran"
    return "exit 2, one line naming the file"


@pytest.mark.parametrize(("command", "kind", "damage"), [c for c in CASES if c[2] != "payload"],
                         ids=[f"{c}-{k}-{d}" for c, k, d in CASES if d != "payload"])
def test_damaged_input_is_one_clear_error_and_writes_nothing(workspace, tmp_path, capsys, command, kind, damage):
    try:
        code, err, damaged = run_damaged(workspace, tmp_path, command, kind, damage, capsys)
        outcome = check_contract(code, err, damaged, (f"{command} ({kind})", damage))
    except BaseException as failure:
        record(command, kind, damage, f"FAILED: {type(failure).__name__}: {str(failure).splitlines()[0][:80]}")
        raise
    record(command, kind, damage, outcome)


@pytest.mark.parametrize(("command", "kind"), [(c, k) for c, k, d in CASES if d == "payload"],
                         ids=[f"{c}-{k}" for c, k, d in CASES if d == "payload"])
def test_payload_in_a_file_never_runs(workspace, tmp_path, capsys, command, kind):
    """An os.system call pickled into the file (hidden in an otherwise valid checkpoint, training state,
    annotation pickle, or NIR metadata) is refused, naming the file, and never runs."""
    try:
        code, err, damaged = run_damaged(workspace, tmp_path, command, kind, "payload", capsys)
        assert not payload_marker().exists(), "the payload ran"
        outcome = check_contract(code, err, damaged, (f"{command} ({kind})", "payload")) + ", payload not run"
    except BaseException as failure:
        record(command, kind, "payload", f"FAILED: {type(failure).__name__}: {str(failure).splitlines()[0][:80]}")
        raise
    record(command, kind, "payload", outcome)


def test_the_valid_workspace_passes_every_command_that_needs_no_lava(workspace, tmp_path, capsys):
    """The control: undamaged, the same files and command lines succeed (so the cases above fail for the
    damage alone)."""
    paths = {k: workspace / damage_writers(k, workspace)[0] for k in KINDS}
    paths["data"], paths["run"] = workspace / "data", workspace / "run"
    for command in ("eval", "predict", "export-nir", "energy", "train --teacher", "data info"):
        assert main(command_line(command, paths, tmp_path / command.replace(" ", "_"))) == 0, command
    capsys.readouterr()


def outcome_table() -> str:
    rows = sorted({row for row, _ in OUTCOMES}, key=lambda r: list(READS).index(r.split(" (")[0]))
    lines = ["| command (damaged file) | " + " | ".join(DAMAGES) + " |", "|---" * (len(DAMAGES) + 1) + "|"]
    for row in rows:
        kind = row.split(" (")[1][:-1]
        cells = [OUTCOMES.get((row, d), "not run") if applicable(kind, d) else "n/a" for d in DAMAGES]
        cells = ["exit 2, named" if c.startswith("exit 2") and d != "payload" else
                 "exit 2, named, not run" if c.startswith("exit 2") else c for c, d in zip(cells, DAMAGES)]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += ["", "Messages (the folder of each case shortened to CASE/):", ""]
    for (row, damage), message in sorted(MESSAGES.items(), key=lambda item: (rows.index(item[0][0]),
                                                                            DAMAGES.index(item[0][1]))):
        lines.append(f"- {row}, {damage}: `{re.sub(r'/tmp/[^ ]*?/(test_[^/ ]*|valid[0-9]*)/', 'CASE/', message)}`")
    return "\n".join(lines) + "\n"
