"""What `snnpar energy` reports: chip rows price the SNN only, the fair baseline states which way it falls,
the teacher's text encoder is priced once, and a missing figure is n/a, never 0."""

import pytest
import torch
from spiking_fixtures import active_tiny_student

from hw_sim.analysis.cli_energy import _ann, build_report, format_report
from hw_sim.analysis.energy_profiles import PROFILES, MissingFigure
from hw_sim.analysis.spikformer_energy import SpikformerAccounting
from snnpar.checkpoint import ModelCard


@pytest.fixture(scope="module")
def report():
    model = active_tiny_student().float()
    card = ModelCard("snnpar-tiny", {"num_attributes": 26}, [f"attribute {i}" for i in range(26)],
                     {"mean": [0.5] * 3, "std": [0.5] * 3})
    anns = {"teacher": _ann("vtb-tiny", card, (128, 64)), "baseline": _ann("vit-tiny", card, (128, 64))}
    images = torch.randn(1, 3, 128, 64, generator=torch.Generator().manual_seed(4))
    return build_report(model, card, images, anns=anns, accounting=SpikformerAccounting(count_neuron_updates=True))


def test_chip_profiles_price_no_ann(report):
    for name, row in report["energy"].items():
        has_ann = any(k.startswith(("teacher", "baseline")) for k in row)
        assert has_ann == (not PROFILES[name].chip), name


def test_a_profile_without_a_neuron_update_figure_is_not_available_rather_than_zero(report):
    assert report["energy"]["truenorth"]["snn_exact"] is None  # TrueNorth publishes no neuron-update energy
    with pytest.raises(MissingFigure):
        PROFILES["truenorth"].energy_joules(1.0, 0.0, 1.0, count_neuron_updates=True)
    assert "n/a" in format_report(report)


def test_the_text_encoder_is_priced_once_and_the_fair_baseline_says_which_way_it_falls(report):
    assert report["anns"]["teacher"]["once_macs"] > 0 and report["anns"]["baseline"]["once_macs"] == 0
    assert "teacher" in report["once_per_deployment"]
    fair = report["fair_baseline"]
    assert set(fair["energy_j"]) == {"int8", "fp32"} and "student as ANN (T=1)" in fair["energy_j"]["int8"]
    assert fair["verdict"].startswith("On the same 45 nm MAC array") and "cheaper" in fair["verdict"]
    for bands in fair["energy_j"]["int8"].values():
        totals = [bands[b]["compute"] + bands[b]["memory"] for b in ("low", "typical", "high")]
        assert totals == sorted(totals)


def test_chip_rows_have_a_band_and_a_time(report):
    for chip in ("loihi2", "loihi"):
        energy = report["chips"][chip]["energy"]
        total = energy["total_per_image_j"]
        assert 0 < total["low"] <= total["typical"] <= total["high"]
        assert energy["time_per_image_in_a_stream_s"]["typical"] > 0
    assert "tokenizer.proj_conv" in report["chips"]["loihi"]["energy"]["not_priced_on_chip"]  # no graded spikes on Loihi
