"""Energy arithmetic and the seed's cross-calibration, checked by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn

from spikeforge.hardware import count_ops, cross_calibration, energy
from spikeforge.hardware.energy import SEED_CLAIMS, Claim
from spikeforge.neuron import LIF


@dataclass(frozen=True)
class Counts:
    synaptic_ops: float
    dense_macs: float


C = Counts(synaptic_ops=1e6, dense_macs=1e7)
V100_FLOPS_PER_W = 52.33e9  # accelerators.csv: Tesla V100 SXM2, 15.7 TFLOPS / 300 W


def test_chip_and_gpu_energy_by_hand():
    table = energy(C)
    assert table.reference == "Tesla V100 SXM2"
    loihi2 = table.row("Loihi-2")
    assert loihi2.energy_j == pytest.approx(1e6 * 1.61e-11)  # SOPs x J/SOP
    v100 = table.row("tesla v100 sxm2")
    assert v100.energy_j == pytest.approx(2 * 1e7 / V100_FLOPS_PER_W)  # 2 FLOP per MAC / (FLOP/s/W)
    assert v100.ratio == 1.0
    assert loihi2.ratio == pytest.approx(1e6 * 1.61e-11 / (2e7 / V100_FLOPS_PER_W))
    a100 = table.row("A100 SXM4 40 GB")
    assert a100.energy_j == pytest.approx(2e7 / 48.73e9)
    # SNE has the lowest J/SOP of the 15 (0.221 pJ); SpiNNaker-1 the highest (11.3 nJ)
    assert table.row("SNE").energy_j == pytest.approx(0.221e-6)
    assert table.rows[-1].device == "SpiNNaker-1"
    assert table.model_sop_per_flop == pytest.approx(1e6 / 2e7)


def test_rows_sorted_and_complete():
    table = energy(C)
    energies = [r.energy_j for r in table.rows]
    assert energies == sorted(energies)
    kinds = [r.kind for r in table.rows]
    assert kinds.count("neuromorphic") == 15
    assert kinds.count("accelerator") == 145 - 26  # Green500 systems left out by default
    with_systems = energy(C, include_systems=True)
    assert len(with_systems.rows) == 15 + 145
    kairos = with_systems.row("Kairos (CALMIP, Univ. Toulouse; GH200)")
    assert kairos.energy_j == pytest.approx(2e7 / 73.282e9)


def test_seed_chart_convention_and_utilisation():
    table = energy(C, sop_per_flop=10.0, gpu_utilization=0.1)
    # chips charged R x 2 x MACs SOPs; GPUs at 10% of peak
    assert table.row("Loihi-2").energy_j == pytest.approx(10 * 2e7 * 1.61e-11)
    assert table.row("Tesla V100 SXM2").energy_j == pytest.approx(2e7 / (0.1 * V100_FLOPS_PER_W))
    assert "10% of" in table.row("Tesla V100 SXM2").basis


def test_reference_and_device_filter():
    table = energy(C, reference="Loihi-2", devices=["SNE", "A100", "THOR"])
    assert {r.device for r in table.rows} == {"Loihi-2", "SNE", "A100 SXM4 40 GB", "THOR"}  # THOR = the chip
    assert table.row("Loihi-2").ratio == 1.0
    assert table.row("SNE").ratio == pytest.approx(0.221e-12 / 1.61e-11, rel=1e-3)
    text = str(table)
    assert "Loihi-2" in text and "× Loihi-2" in text


def test_energy_errors_name_the_argument():
    with pytest.raises(TypeError, match="counts: expected an object with per-sample attributes"):
        energy(object())
    with pytest.raises(ValueError, match=r"counts.synaptic_ops: expected a finite number >= 0"):
        energy(Counts(-1.0, 1.0))
    with pytest.raises(ValueError, match="sop_per_flop: expected a positive number"):
        energy(C, sop_per_flop=0)
    with pytest.raises(ValueError, match=r"gpu_utilization: expected a fraction in \(0, 1\]"):
        energy(C, gpu_utilization=2)
    with pytest.raises(KeyError, match="reference: 'Loihi-9' is neither"):
        energy(C, reference="Loihi-9")
    with pytest.raises(TypeError, match="devices: expected a sequence of names"):
        energy(C, devices="SNE")


def test_energy_of_a_counted_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), LIF(), nn.Linear(16, 4), LIF())
    x = (torch.rand(10, 8, 20) > 0.8).float()
    counts = count_ops(model, x)
    table = energy(counts)
    assert table.synaptic_ops == counts.synaptic_ops and table.dense_macs == counts.dense_macs
    assert counts.dense_macs == 10 * (20 * 16 + 16 * 4)
    assert table.row("TrueNorth").energy_j == pytest.approx(counts.synaptic_ops * 4.86e-11)


def test_cross_calibration_by_hand():
    cal = cross_calibration()
    rows = {r.claim.chip: r for r in cal.rows}
    # R = (1 / J_per_SOP) / (factor x FLOP/s per W), typed from the two CSVs
    assert rows["NorthPole"].sop_per_flop_at_peak == pytest.approx(1 / (8.76e-11 * 25 * 52.33e9))
    assert rows["SpiNNaker-2"].sop_per_flop_at_peak == pytest.approx(1 / (1.50e-11 * 18 * 48.73e9))
    assert rows["Loihi-2"].sop_per_flop_at_peak == pytest.approx(1 / (1.61e-11 * 24 * 85.33e9))
    lo, hi = cal.range_at_peak
    assert lo == pytest.approx(0.008726, rel=1e-3) and hi == pytest.approx(0.07601, rel=1e-3)
    # at peak the claims give R << 1, far from the seed's 2..45: the seed's range needs low utilisation
    u_low, u_high = cal.utilization_for_target
    assert u_low == pytest.approx(lo / 2) and u_high == pytest.approx(hi / 45)
    assert 0.001 < u_high < u_low < 0.005
    assert "0.17% .. 0.44%" in str(cal)


def test_cross_calibration_scales_with_utilisation():
    cal = cross_calibration(utilization=0.003)
    for row in cal.rows:
        assert row.sop_per_flop == pytest.approx(row.sop_per_flop_at_peak / 0.003)
    lo, hi = cal.range
    assert 2 < lo < hi < 45  # at 0.3% of peak all three claims fall inside the seed's range
    custom = cross_calibration(claims=(Claim("SNE", "RTX 4090", 100.0, "made-up"),))
    assert custom.rows[0].sop_per_flop_at_peak == pytest.approx(1 / (0.221e-12 * 100 * 183.51e9), rel=1e-3)
    assert len(SEED_CLAIMS) == 3
    with pytest.raises(ValueError, match="utilization: expected a fraction"):
        cross_calibration(utilization=0)
