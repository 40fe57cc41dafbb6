"""`snnpar data synth` and `snnpar data info` end to end through the dispatcher."""

from __future__ import annotations

from snnpar.cli import main


def test_synth_then_info(tmp_path, capsys):
    out = tmp_path / "syn"
    assert main(["data", "synth", "--out", str(out), "--n", "30", "--height", "64", "--width", "32"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 30 images (64x32)" in printed and "images/second" in printed
    assert "train 24, val 3, test 3" in printed and "Skirt&Dress" in printed
    assert main(["data", "info", "--data", "synthetic", "--root", str(out), "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert "30 images, 26 attributes" in printed and "test           3 images" in printed
    assert "positive ratio per attribute on test" in printed
    table = printed[printed.index("cue visibility"):].splitlines()[2:]  # the synthetic set's ceiling, per attribute
    assert len(table) == 26 and {line.split()[0] for line in table} >= {"UpperLogo", "Backpack", "AgeOver60"}


def test_info_errors_name_the_problem(tmp_path, capsys):
    assert main(["data", "info", "--data", "pa100k", "--root", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["data", "info", "--data", "market1501", "--root", str(tmp_path)]) == 2
    assert "unknown data set 'market1501'" in capsys.readouterr().err
    assert main(["data", "info", "--data", "peta", "--root", str(tmp_path)]) == 2
    assert "no PETA annotation found" in capsys.readouterr().err
