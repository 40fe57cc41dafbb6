"""`snnpar demo` runs every stage end to end (at its smallest setting) and writes the report folder."""

from __future__ import annotations

from snnpar.cli import main


def test_demo_runs_every_stage_and_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--images", "80", "--teacher-epochs", "1", "--student-epochs", "1",
                 "--qat-epochs", "1", "--simulate-images", "1", "--energy-images", "2"])
    assert code == 0
    summary = (out / "summary.md").read_text()
    for section in ("| teacher (vtb-tiny) |", "| student (snnpar-tiny) |", "## Norse vs Lava fidelity", "## Loihi 2 mapping",
                    "## Energy", "| student, post-training quantised, Loihi 2 fixed point |",
                    "| student, Loihi 2 QAT, Loihi 2 fixed point |"):
        assert section in summary
    assert "lava float vs norse on 1 image(s): attributes agree 1.0000" in summary  # float Lava is exact
    # fixed-point Lava equals the integer evaluator of the same arithmetic, every spike and the logits
    assert "lava fixed vs integer evaluator on 1 image(s): attributes agree 1.0000, max |logit diff| 0, EXACT" in summary
    # the QAT student: its own forward is what Lava fixed point and the integer evaluator run
    assert "lava fixed (qat formats) vs qat forward on 1 image(s): attributes agree 1.0000" in summary
    assert "integer evaluator (qat formats) vs qat forward on 1 image(s): attributes agree 1.0000" in summary
    assert "QAT on the chip vs its own QAT forward: decisions agree 1.0000" in summary
    with open(out / "eval_student" / "metrics.csv") as f, open(out / "eval_student_loihi2" / "metrics.csv") as g:
        assert f.readline() == g.readline()  # the same columns
    for picture in ("compare/fidelity.png", "figures/raster.png", "figures/activity_heatmaps.png",
                    "figures/energy.png", "figures/chip_energy.png", "predictions"):
        assert (out / picture).exists(), picture
    assert (out / "student.nir").stat().st_size > 0
