"""Outputs: the umask is honoured, a write that fails leaves nothing and names the user's path, and an
unwritable destination is found before the work starts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

from snnpar.atomic_file import atomic_output, check_output_file, check_output_folder
from snnpar.checkpoint import atomic_torch_save
from snnpar.cli import main
from snnpar.errors import UserError


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_files_get_the_mode_the_umask_gives_any_new_file(tmp_path, mask):
    old = os.umask(mask)
    try:
        with atomic_output(tmp_path / "table.csv") as tmp:
            tmp.write_text("a,b\n")
        (tmp_path / "plain.txt").write_text("x")  # what open() gives: the reference
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "table.csv").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~mask


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "out.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_names_the_path_the_user_gave(tmp_path):
    """A real short write: the file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes write() fail with
    EFBIG as a full disk fails with ENOSPC; torch's own writer would report only "unexpected pos"."""
    script = textwrap.dedent(f"""
        import resource, signal, sys, torch
        from snnpar.checkpoint import atomic_torch_save
        from snnpar.errors import UserError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            atomic_torch_save({{"w": torch.zeros(100000)}}, {str(tmp_path / "best.pt")!r})
        except UserError as err:
            print(err)
            sys.exit(2)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert str(tmp_path / "best.pt") in done.stdout and "larger than this system allows" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_output_checks_refuse_files_in_the_way_and_create_nothing(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match=r"--out .*results is a file"):
        check_output_folder(blocker, "--out")
    with pytest.raises(UserError, match=r"--out .*results/sub: .*results is a file"):
        check_output_folder(blocker / "sub", "--out")
    with pytest.raises(UserError, match=r"-o .* is a folder"):
        check_output_file(tmp_path, "-o")
    check_output_folder(tmp_path / "new" / "deeper", "--out")
    check_output_file(tmp_path / "new" / "model.nir", "-o")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_commands_check_their_output_before_the_work(tmp_path, capsys):
    """Each command with an output option stops at once (here: before reading a checkpoint that does not
    exist, or starting Lava) when the output cannot be written."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    missing = str(tmp_path / "none.pt")
    for argv in (["simulate", str(tmp_path / "g.nir"), "--images", "a.png", "--out", str(blocker / "sim")],
                 ["compare", missing, "--nir", "g.nir", "--data", "synthetic", "--root", ".", "--out", str(blocker)],
                 ["energy", missing, "--data", "synthetic", "--root", ".", "--out", str(blocker / "e.json")],
                 ["eval", missing, "--data", "synthetic", "--root", ".", "--out", str(blocker / "ev")],
                 ["export-nir", missing, "-o", str(blocker / "m.nir")],
                 ["train", "--model", "snnpar-tiny", "--data", "synthetic", "--root", ".", "--out", str(blocker)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "blocker" in err and "none.pt" not in err, (argv, err)


def test_export_refuses_to_write_over_its_own_checkpoint(tmp_path, capsys):
    from snnpar.checkpoint import ModelCard, save_checkpoint
    from snnpar.models import create_model

    kwargs = {"image_size": [32, 16], "time_steps": 2, "num_attributes": 3}
    ckpt = save_checkpoint(tmp_path / "best.pt", create_model("snnpar-tiny", **{**kwargs, "image_size": (32, 16)}),
                           ModelCard("snnpar-tiny", kwargs, ["a", "b", "c"], {"mean": [0.5] * 3, "std": [0.5] * 3}))
    before = ckpt.read_bytes()
    assert main(["export-nir", str(ckpt), "-o", str(ckpt)]) == 2
    assert "the checkpoint itself" in capsys.readouterr().err and ckpt.read_bytes() == before


def test_atomic_torch_save_keeps_other_errors_as_they_are(tmp_path):
    with pytest.raises(Exception) as err:  # noqa: B017 - any exception of torch's, just not a UserError
        atomic_torch_save({"f": lambda: 0}, tmp_path / "x.pt")  # a lambda cannot be pickled: a bug, not the disk
    assert not isinstance(err.value, UserError)
    assert list(tmp_path.iterdir()) == []
