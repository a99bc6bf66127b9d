"""Energy per inference on the 15 chips and on GPUs/accelerators, and the cross-calibration of the essay
"Spikes are the next digits" (Digica), whose table is the chip catalog.

Both estimates are **lower bounds**:

* chip: ``synaptic_ops × J/SOP`` -- the catalog's J/SOP is the incremental (dynamic) energy of one
  synaptic operation; static/leakage power, neuron updates, I/O and host are ignored;
* GPU/accelerator: ``2 × dense_macs / (FLOP/s per W)`` -- one MAC is 2 FLOPs, run at the device's
  *peak* FLOP/s per W (peak FP32 over TDP; bf16 for TPUs). Real utilisation is far below peak; pass
  ``gpu_utilization`` to scale (energy grows as ``1 / utilisation``).

The default reference device is the Tesla V100 (see ``docs/hardware.md``): the essay compares chips
against a V100 (NorthPole, 25×), an A100 (SpiNNaker-2, 18×) and a Jetson Orin Nano (Loihi-2, 24×); the
V100 is the first of these and its peak efficiency (52.3 GFLOP/s/W) is the median of the three
(A100 48.7, Orin Nano 85.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from spikeforge.hardware.catalog import (
    Accelerator,
    Platform,
    accelerator,
    accelerators,
    normalize_name,
    platform,
    platforms,
)
from spikeforge.hardware.counts import _render

__all__ = [
    "DEFAULT_REFERENCE",
    "SEED_CLAIMS",
    "SEED_SOP_PER_FLOP_RANGE",
    "CalibrationRow",
    "Claim",
    "CrossCalibration",
    "EnergyRow",
    "EnergyTable",
    "cross_calibration",
    "energy",
]

DEFAULT_REFERENCE = "Tesla V100 SXM2"
#: The essay's "we can estimate the number of SOPs per FLOPs to be somewhere between 2 and 45".
SEED_SOP_PER_FLOP_RANGE: tuple[float, float] = (2.0, 45.0)


@dataclass(frozen=True)
class EnergyRow:
    """Energy of one inference (per sample) on one device.

    ``kind`` is ``"neuromorphic"`` or ``"accelerator"``; ``ops`` the operations charged (SOPs or FLOPs)
    and ``j_per_op`` the energy of each; ``ratio`` = ``energy_j`` / the reference device's energy.
    """

    device: str
    kind: str
    family: str
    ops: float
    op_unit: str
    j_per_op: float
    energy_j: float
    ratio: float
    basis: str


@dataclass(frozen=True)
class EnergyTable:
    """Rows sorted by energy (lowest first), with the inputs that produced them."""

    rows: tuple[EnergyRow, ...]
    reference: str
    synaptic_ops: float
    dense_macs: float
    sop_per_flop: float | None
    gpu_utilization: float

    @property
    def model_sop_per_flop(self) -> float:
        """This model's own SOPs per FLOP: ``synaptic_ops / (2 × dense_macs)``."""
        return self.synaptic_ops / (2.0 * self.dense_macs) if self.dense_macs else math.nan

    def row(self, device: str) -> EnergyRow:
        wanted = normalize_name(device)
        for r in self.rows:
            if normalize_name(r.device) == wanted:
                return r
        raise KeyError(f"device {device!r} not in this table; devices: {[r.device for r in self.rows]}")

    def to_rich(self):
        from rich.table import Table

        sop = "counted SOPs" if self.sop_per_flop is None else f"SOPs = {self.sop_per_flop:g} × FLOPs"
        table = Table(
            title=(
                f"Energy per inference (lower bounds): {self.synaptic_ops:.4g} SOPs, "
                f"{self.dense_macs:.4g} dense MACs per sample; chips: {sop}; "
                f"GPUs at {100 * self.gpu_utilization:g}% of peak"
            )
        )
        for col in ("device", "kind", "ops", "J/op", "energy [J]", f"× {self.reference}"):
            table.add_column(col, justify="left" if col in ("device", "kind") else "right")
        for r in self.rows:
            table.add_row(
                r.device,
                r.family,
                f"{r.ops:.3g} {r.op_unit}",
                f"{r.j_per_op:.3g}",
                f"{r.energy_j:.3g}",
                f"{r.ratio:.3g}",
            )
        return table

    def __str__(self) -> str:
        return _render(self.to_rich())


def _check_count(counts, attr: str) -> float:
    if not hasattr(counts, attr):
        raise TypeError(
            f"counts: expected an object with per-sample attributes 'synaptic_ops' and 'dense_macs' "
            f"(the result of count_ops), got {type(counts).__name__} without {attr!r}"
        )
    value = float(getattr(counts, attr))
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"counts.{attr}: expected a finite number >= 0, got {value!r}")
    return value


def _resolve(name: str) -> Platform | Accelerator:
    """A chip on an exact name match first (``"THOR"`` is the chip, not the Jetson AGX Thor)."""
    exact = [p for p in platforms() if normalize_name(p.name) == normalize_name(name)]
    if exact:
        return exact[0]
    try:
        return accelerator(name)
    except KeyError as acc_err:
        try:
            return platform(name)
        except KeyError:
            raise KeyError(
                f"reference: {name!r} is neither an accelerator nor a neuromorphic platform "
                f"({acc_err.args[0]}; platforms: {', '.join(p.name for p in platforms())})"
            ) from None


def energy(
    counts,
    reference: str | None = None,
    sop_per_flop: float | None = None,
    *,
    gpu_utilization: float = 1.0,
    include_systems: bool = False,
    devices: Sequence[str] | None = None,
) -> EnergyTable:
    """Energy of one inference on every chip and accelerator, sorted by energy.

    Args:
        counts: anything with per-sample ``synaptic_ops`` and ``dense_macs`` (e.g. :func:`count_ops`).
        reference: device for the ratio column (an accelerator or a chip); default ``"Tesla V100 SXM2"``.
        sop_per_flop: ``None`` (default) charges chips for the counted synaptic operations. A number
            ``R`` instead charges ``R × 2 × dense_macs`` SOPs -- the essay's chart convention, where a
            chip's SOP/s per W divided by ``R`` is compared with a GPU's FLOP/s per W.
        gpu_utilization: fraction of peak FLOP/s per W the accelerators reach (1 = peak, a lower bound).
        include_systems: also list the Green500 #1 systems (FP64 HPL, whole machine).
        devices: keep only these devices (names as for :func:`platform` / :func:`accelerator`); the
            reference is always kept.
    """
    sops = _check_count(counts, "synaptic_ops")
    macs = _check_count(counts, "dense_macs")
    if sop_per_flop is not None and not (math.isfinite(sop_per_flop) and sop_per_flop > 0):
        raise ValueError(f"sop_per_flop: expected a positive number or None, got {sop_per_flop!r}")
    if not (0 < gpu_utilization <= 1):
        raise ValueError(f"gpu_utilization: expected a fraction in (0, 1], got {gpu_utilization!r}")
    ref = _resolve(reference or DEFAULT_REFERENCE)
    flops = 2.0 * macs
    chip_sops = sops if sop_per_flop is None else sop_per_flop * flops

    raw: list[tuple[str, str, str, float, str, float, float, str]] = []
    for p in platforms():
        basis = "counted SOPs × J/SOP" if sop_per_flop is None else f"{sop_per_flop:g} SOP/FLOP × FLOPs × J/SOP"
        raw.append(
            (p.name, "neuromorphic", "neuromorphic", chip_sops, "SOP", p.j_per_sop, chip_sops * p.j_per_sop, basis)
        )
    for a in accelerators():
        if a.is_system and not include_systems and a is not ref:
            continue
        j_per_flop = 1.0 / (a.flops_per_w * gpu_utilization)
        basis = f"2 × dense MACs / ({100 * gpu_utilization:g}% of {a.efficiency_basis})"
        raw.append((a.name, "accelerator", a.family, flops, "FLOP", j_per_flop, flops * j_per_flop, basis))
    ref_energy = next(r[6] for r in raw if r[0] == ref.name)
    if devices is not None:
        if isinstance(devices, str):
            raise TypeError(f"devices: expected a sequence of names, got the string {devices!r}")
        keep = {_resolve(d).name for d in devices} | {ref.name}
        raw = [r for r in raw if r[0] in keep]
    rows = [
        EnergyRow(
            device=name,
            kind=kind,
            family=family,
            ops=ops,
            op_unit=unit,
            j_per_op=jpo,
            energy_j=e,
            ratio=(e / ref_energy) if ref_energy > 0 else math.nan,
            basis=basis,
        )
        for name, kind, family, ops, unit, jpo, e, basis in raw
    ]
    rows.sort(key=lambda r: (r.energy_j, r.device))
    return EnergyTable(
        rows=tuple(rows),
        reference=ref.name,
        synaptic_ops=sops,
        dense_macs=macs,
        sop_per_flop=sop_per_flop,
        gpu_utilization=gpu_utilization,
    )


# ------------------------------------------------------------------------------- cross-calibration
@dataclass(frozen=True)
class Claim:
    """A task-level claim: ``chip`` is ``factor`` × more energy-efficient than ``gpu`` on ``task``."""

    chip: str
    gpu: str
    factor: float
    task: str


SEED_CLAIMS: tuple[Claim, ...] = (
    Claim("NorthPole", "Tesla V100 SXM2", 25.0, "image frames per joule"),
    Claim("SpiNNaker-2", "A100 SXM4 40 GB", 18.0, "task efficiency (essay: 'over 18x')"),
    Claim("Loihi-2", "Jetson Orin Nano 8 GB", 24.0, "NsNet2 noise suppression"),
)


@dataclass(frozen=True)
class CalibrationRow:
    """What one claim implies for the SOPs-per-FLOP ratio ``R``.

    With the chip at its catalog J/SOP and the GPU at ``utilization`` × peak FLOP/s per W, the claim
    ``E_gpu / E_chip = factor`` gives ``SOPs / FLOPs = (SOP/s/W of chip) / (factor × u × FLOP/s/W of
    GPU)``. ``sop_per_flop_at_peak`` is that at ``u = 1``; ``sop_per_flop`` at the requested ``u``;
    ``utilization_for`` maps a target ``R`` to the utilisation that makes this claim produce it.
    """

    claim: Claim
    chip_sop_per_s_per_w: float
    gpu_flops_per_w: float
    sop_per_flop_at_peak: float
    sop_per_flop: float
    utilization: float

    def utilization_for(self, target_sop_per_flop: float) -> float:
        return self.sop_per_flop_at_peak / target_sop_per_flop


@dataclass(frozen=True)
class CrossCalibration:
    rows: tuple[CalibrationRow, ...]
    utilization: float
    target: tuple[float, float]

    @property
    def range_at_peak(self) -> tuple[float, float]:
        vals = [r.sop_per_flop_at_peak for r in self.rows]
        return (min(vals), max(vals))

    @property
    def range(self) -> tuple[float, float]:
        vals = [r.sop_per_flop for r in self.rows]
        return (min(vals), max(vals))

    @property
    def flop_per_sop_at_peak(self) -> tuple[float, float]:
        """The inverse reading (FLOPs per SOP) at peak, in case a source counted the other way."""
        lo, hi = self.range_at_peak
        return (1.0 / hi, 1.0 / lo)

    @property
    def utilization_for_target(self) -> tuple[float, float]:
        """One GPU utilisation ``u`` applied to all claims: ``u_low`` makes the smallest implied ratio
        equal the target's lower end, ``u_high`` makes the largest equal its upper end. Any single
        ``u`` in ``[u_high, u_low]`` keeps the implied ratios overlapping the target range."""
        lo, hi = self.range_at_peak
        return (lo / self.target[0], hi / self.target[1])

    def to_rich(self):
        from rich.table import Table

        table = Table(title=f"Cross-calibration: implied SOPs per FLOP (GPU at {100 * self.utilization:g}% of peak)")
        cols = ("chip", "GPU", "claim", "chip SOP/s/W", "GPU FLOP/s/W", "R at peak", "R", "u for R=2", "u for R=45")
        for col in cols:
            table.add_column(col, justify="left" if col in ("chip", "GPU") else "right")
        for r in self.rows:
            table.add_row(
                r.claim.chip,
                r.claim.gpu,
                f"{r.claim.factor:g}×",
                f"{r.chip_sop_per_s_per_w:.3g}",
                f"{r.gpu_flops_per_w:.3g}",
                f"{r.sop_per_flop_at_peak:.3g}",
                f"{r.sop_per_flop:.3g}",
                f"{100 * r.utilization_for(self.target[0]):.3g}%",
                f"{100 * r.utilization_for(self.target[1]):.3g}%",
            )
        return table

    def __str__(self) -> str:
        lo, hi = self.range_at_peak
        ulo, uhi = self.utilization_for_target
        flo, fhi = self.flop_per_sop_at_peak
        return (
            _render(self.to_rich()) + f"At peak GPU efficiency the claims imply R = {lo:.3g} .. {hi:.3g} SOPs per FLOP "
            f"(or {flo:.3g} .. {fhi:.3g} FLOPs per SOP read the other way).\n"
            f"The essay's R = {self.target[0]:g} .. {self.target[1]:g} needs the GPUs at "
            f"{100 * uhi:.2g}% .. {100 * ulo:.2g}% of peak FLOP/s per W.\n"
        )


def cross_calibration(
    claims: tuple[Claim, ...] = SEED_CLAIMS,
    utilization: float = 1.0,
    target: tuple[float, float] = SEED_SOP_PER_FLOP_RANGE,
) -> CrossCalibration:
    """Implied SOPs-per-FLOP ratio of task-level efficiency claims (default: the essay's three)."""
    if not (0 < utilization <= 1):
        raise ValueError(f"utilization: expected a fraction in (0, 1], got {utilization!r}")
    if len(target) != 2 or not (0 < target[0] <= target[1]):
        raise ValueError(f"target: expected (low, high) with 0 < low <= high, got {target!r}")
    rows = []
    for c in claims:
        if not (c.factor > 0):
            raise ValueError(f"claims: factor must be > 0, got {c!r}")
        chip, gpu = platform(c.chip), accelerator(c.gpu)
        at_peak = chip.sop_per_s_per_w / (c.factor * gpu.flops_per_w)
        rows.append(
            CalibrationRow(
                claim=c,
                chip_sop_per_s_per_w=chip.sop_per_s_per_w,
                gpu_flops_per_w=gpu.flops_per_w,
                sop_per_flop_at_peak=at_peak,
                sop_per_flop=at_peak / utilization,
                utilization=utilization,
            )
        )
    return CrossCalibration(rows=tuple(rows), utilization=utilization, target=(float(target[0]), float(target[1])))
