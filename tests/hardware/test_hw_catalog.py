"""The catalogs parse every CSV field and format back to the exact same strings."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import math
import re
from pathlib import Path

import pytest

from spikeforge.hardware import accelerator, accelerators, catalog, human_brain, platform, platforms
from spikeforge.hardware.catalog import TABLE_SOURCE, normalize_name

DATA = Path(__file__).resolve().parents[2] / "src" / "spikeforge" / "hardware" / "data"
SHARED = Path("/work/shared/data")


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_platform_round_trip_every_field():
    rows = _rows("neuromorphic_platforms.csv")
    chips = platforms()
    assert len(rows) == len(chips) == 15
    for row, chip in zip(rows, chips):
        assert chip.to_row() == row
        assert list(chip.to_row()) == list(row)  # same columns, same order


def test_platform_values_are_parsed_not_copied():
    rows = {r["platform"]: r for r in _rows("neuromorphic_platforms.csv")}
    for chip in platforms():
        row = rows[chip.name]
        assert chip.neurons == float(row["neurons"])
        assert isinstance(chip.neurons, int)
        assert chip.j_per_sop == float(row["j_per_sop"])
        assert chip.release == dt.date.fromisoformat(row["release"])
        if row["synapses"]:
            assert chip.synapses == float(row["synapses"])
        else:
            assert chip.synapses is None and chip.synapses_per_neuron is None
        assert chip.asynchronous == (row["freq_mhz"] == "async")
    # spot values typed out from the Digica table
    loihi2 = platform("Loihi-2")
    assert (loihi2.neurons, loihi2.synapses, loihi2.process_nm) == (1_000_000, 128_000_000, 7)
    assert loihi2.asynchronous and loihi2.freq_mhz is None
    assert platform("BrainScaleS-2").library == ("PyNN", "hxTorch")
    assert platform("TrueNorth").synapse_type == ("CuBa", "Delta")
    assert platform("ODIN").freq_mhz == 75.0
    assert platform("µBrain").freq_mhz == 1.4


def test_accelerator_round_trip_every_field():
    rows = _rows("accelerators.csv")
    accs = accelerators()
    assert len(rows) == len(accs) == 145
    for row, acc in zip(rows, accs):
        assert acc.to_row() == row


def test_accelerator_families_match_sources_md():
    counts: dict[str, int] = {}
    for a in accelerators():
        counts[a.family] = counts.get(a.family, 0) + 1
    # SOURCES.md: "Families: GeForce GTX (16), GeForce RTX (12), ..."
    assert counts == {
        "GeForce GTX": 16,
        "GeForce RTX": 12,
        "GeForce mobile": 7,
        "Jetson": 11,
        "Tesla/datacenter": 12,
        "Radeon desktop": 24,
        "Radeon mobile RX": 12,
        "Radeon Embedded": 10,
        "Instinct": 11,
        "TPU": 4,
        "supercomputer": 26,
    }


def test_accelerator_efficiency_is_peak_over_tdp():
    # independent check of the CSV's derived column: 1000 * TFLOPS / W, to its 2 printed decimals
    for a in accelerators():
        if a.is_system:
            assert a.tdp_w is None and a.peak_tflops is None
            continue
        assert a.gflops_per_w == pytest.approx(1000 * a.peak_tflops / a.tdp_w, abs=0.006)
        assert a.flops_per_w == pytest.approx(a.gflops_per_w * 1e9)


def test_brain_round_trip_and_band():
    rows = _rows("human_brain.csv")
    brain = human_brain()
    assert [q.to_row() for q in brain.rows()] == rows
    assert brain.band == (5e11, 8.33e14)
    # the CSV's derived rows are consistent with its inputs: 1e13 SOP/s / 20 W, 1e16 / 12 W
    sops, watts = brain.synaptic_ops_per_s, brain.brain_power_w
    assert brain.sop_per_s_per_w.low == pytest.approx(sops.low / watts.high)
    assert brain.sop_per_s_per_w.high == pytest.approx(sops.high / watts.low, rel=1e-3)
    assert brain.j_per_sop.central == pytest.approx(1 / brain.sop_per_s_per_w.central)


def test_derived_fields():
    sp2 = platform("SpiNNaker-2")
    assert sp2.synapses_per_neuron == pytest.approx(1.52e8 / 1.25e5)
    assert sp2.sop_per_s_per_w == pytest.approx(1 / 1.5e-11)
    assert sp2.programmable_neurons and sp2.programmable_training and sp2.training_rules == ("*",)
    odin = platform("odin")
    assert not odin.programmable_neurons and odin.training_rules == ("STDP",)
    assert odin.supports_rule("stdp") and not odin.supports_rule("e-prop")
    tn = platform("TrueNorth")
    assert not tn.has_on_device_training and tn.training_rules == () and not tn.supports_rule("STDP")
    assert platform("ReckOn").supports_rule("eprop")
    assert platform("Darwin-3").supports_rule("BPTT")
    # the essay's "~1e3 synapses per neuron" criterion: which chips meet it
    meeting = {p.name for p in platforms() if (p.synapses_per_neuron or 0) >= 990}
    assert meeting == {"SpiNNaker-1", "Loihi-1", "SpiNNaker-2", "ANP-I"}


def test_discrepancies_stated_plainly():
    tn = platform("truenorth")
    assert tn.release.year == 2015 and tn.checked_year == 2014
    assert tn.disagreements == (
        "release year: the Digica table gives 2015-08-28; Merolla et al., Science 345:668 (2014) gives 2014; "
        "the catalog keeps the table's date",
    )
    assert tn.notes[: len(tn.disagreements)] == tn.disagreements
    anp = platform("ANP-I")
    assert anp.checked_year == 2024 and any(d.startswith("release year") for d in anp.disagreements)
    # ODIN: the paper's title gives another J/SOP than the table; the table's value is kept
    odin = platform("ODIN")
    assert odin.j_per_sop == 8.4e-12
    assert any(d.startswith("J/SOP:") and "12.7 pJ/SOP" in d and "8.4 pJ" in d for d in odin.disagreements)
    # chips whose checked year equals the table's have no release-year disagreement
    for chip in platforms():
        has_note = any(n.startswith("release year") for n in chip.disagreements)
        assert has_note == (chip.checked_year != chip.release.year)
        assert chip.sources  # every chip carries its sources
    topics = {p.name: [d.split(":")[0] for d in p.disagreements] for p in platforms() if p.disagreements}
    assert topics == {"TrueNorth": ["release year"], "ODIN": ["J/SOP"], "ANP-I": ["release year"]}


_INTERNAL = re.compile(r"\bseed\b|caller|supplied|review table|\breview's\b|the review\b", re.I)


def test_no_internal_words_in_user_facing_text():
    """Issue 10 item 13: a user has never heard of "the seed" or "the caller": every text a chip record
    shows names a published source instead."""
    for chip in platforms():
        texts = [str(v) for v in chip.as_dict().values()]
        texts += [chip.source_of(k) for k in chip.as_dict()]
        texts += [chip.year_basis, chip.year_check, chip.source_notes, chip.j_per_sop_check, *chip.notes]
        for text in texts:
            assert not _INTERNAL.search(text), (chip.name, text)
    # the data files keep their compiler's words (byte-identical to the shared data); the catalog must
    # translate every such clause of the notes column, not pass it through
    for row in _rows("neuromorphic.csv"):
        for clause in row["notes"].split(";"):
            if _INTERNAL.search(clause):
                assert clause.strip() in catalog._NOTE_CLAUSES, clause


def test_every_value_names_its_published_source():
    loihi2 = platform("Loihi-2")
    assert TABLE_SOURCE == 'the table of neuromorphic platforms in the essay "Spikes are the next digits" (Digica)'
    for field in ("release", "neurons", "synapses", "j_per_sop", "process_nm"):
        assert loihi2.source_of(field) == "the Digica table"
    assert loihi2.source_of("synapses_per_neuron").startswith("derived: synapses / neurons (an average")
    assert loihi2.source_of("checked_year") == (
        "announced 30 Sep 2021: https://matzavreview.com/2021/10/04/intel-unveils-loihi-2-neuromorphic-chip-with-"
        "1-million-neurons/ ; https://hothardware.com/news/intel-launches-loihi-2-its-second-generation-neuromorphic"
        "-processor"
    )
    assert "0.221 pJ/SOP" in platform("SNE").source_of("j_per_sop")  # the paper agrees with the table
    with pytest.raises(KeyError, match="field 'speed' not known"):
        loihi2.source_of("speed")


def test_lookup_is_case_and_punctuation_insensitive():
    assert platform("loihi 2") is platform("LOIHI_2") is platform("Loihi-2")
    assert platform("ubrain").name == "µBrain"
    assert platform("spinnaker2").name == "SpiNNaker-2"
    assert accelerator("v100").name == "Tesla V100 SXM2"  # chip preferred over the V100 system
    assert accelerator("a100").name == "A100 SXM4 40 GB"
    assert normalize_name("Jetson Orin-Nano") == "jetsonorinnano"


def test_lookup_miss_lists_names():
    with pytest.raises(KeyError, match="known names: SpiNNaker-1, TrueNorth") as info:
        platform("Loihi-3")
    assert "Darwin-3" in str(info.value)
    with pytest.raises(KeyError, match=r"ambiguous.*Jetson Orin Nano 8 GB"):
        accelerator("orin")
    with pytest.raises(TypeError, match="platform name must be a str"):
        platform(3)  # type: ignore[arg-type]


def test_records_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        platform("Loihi-2").neurons = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        accelerators()[0].gflops_per_w = 1.0  # type: ignore[misc]


def test_release_year_decimal():
    assert accelerator("Jetson TK1").release_year == pytest.approx(2014 + (31 + 28 + 15) / 365)
    assert accelerator("TPU v4i").release_year == 2020.5
    assert platform("SpiNNaker-1").release_year == pytest.approx(2013 + 226 / 365)
    assert all(math.isfinite(a.release_year) for a in accelerators())


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data folder not present on this machine")
def test_package_data_is_byte_identical_to_shared():
    for name in (
        "neuromorphic_platforms.csv",
        "neuromorphic.csv",
        "accelerators.csv",
        "human_brain.csv",
        "SOURCES.md",
    ):
        ours = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
        theirs = hashlib.sha256((SHARED / name).read_bytes()).hexdigest()
        assert ours == theirs, name
