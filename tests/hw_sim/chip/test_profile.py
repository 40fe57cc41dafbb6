"""Chip profiles are data files: the shipped ones load with a source for every published figure, bad ones
are named precisely, and what-if overrides are marked."""

import pytest

from hw_sim.chip.profile import CHIP_FOLDER, known_chips, load_chip
from snnpar.errors import UserError


@pytest.mark.parametrize("name", ["loihi", "loihi2"])
def test_shipped_profiles_cite_a_source_for_every_published_figure(name):
    chip = load_chip(name)
    for section in ("chip", "core", "energy", "time"):
        for key, figure in getattr(chip, section).items():
            assert figure.low <= figure.typical <= figure.high, key
            assert figure.sources or not figure.published, f"{section}.{key} has no source"
            assert all(s in chip.sources for s in figure.sources)
    assert chip.largest_board is not None and chip.cores_per_chip == 128


def test_loihi_figures_are_the_published_ones():
    # Davies et al., IEEE Micro 2018, Table 2, and NengoLoihi's per-core limits, typed in here from the papers
    chip = load_chip("loihi")
    assert chip.energy["synaptic_op_conv"].low == 23.6e-12
    assert (chip.energy["neuron_update"].low, chip.energy["neuron_update"].high) == (52e-12, 81e-12)
    assert chip.limit("core", "neurons") == 1024 and chip.limit("core", "fan_in_axons") == 4096
    assert chip.limit("core", "memory_bits") == 16384 * 64
    assert chip.unpublished() == ["energy.static_power_per_chip"]


def test_a_profile_with_a_missing_field_is_named_with_file_and_field(tmp_path):
    text = (CHIP_FOLDER / "loihi2.toml").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("neurons =")]
    path = tmp_path / "broken.toml"
    path.write_text("\n".join(lines))
    with pytest.raises(UserError, match=r"broken\.toml: missing field 'core\.neurons'"):
        load_chip(path)


def test_unknown_chips_sources_and_bad_bands_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown chip 'loihi3'"):
        load_chip("loihi3")
    text = (CHIP_FOLDER / "loihi.toml").read_text()
    path = tmp_path / "bad.toml"
    path.write_text(text.replace('source = "nengo_loihi", note = "MAX_COMPARTMENTS', 'source = "nobody", note = "x'))
    with pytest.raises(UserError, match="cites"):
        load_chip(path)
    path.write_text(text.replace("low = 52.0e-12", "low = 90.0e-12"))
    with pytest.raises(UserError, match="neuron_update"):
        load_chip(path)
    assert set(known_chips()) >= {"loihi", "loihi2"}


def test_overrides_replace_a_figure_and_mark_it_unpublished():
    chip = load_chip("loihi", {"core.fan_in_axons": 65536})
    assert chip.limit("core", "fan_in_axons") == 65536 and "core.fan_in_axons" in chip.unpublished()
    with pytest.raises(UserError, match="no such figure"):
        load_chip("loihi", {"core.nonsense": 1})
