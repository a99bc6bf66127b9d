"""The mapping between spikeforge's discrete decays and NIR's continuous time constants (docs/nir.md).

Two discretizations of ``τ·dv/dt = (v_leak − v) + R·I`` with the input held over each step ``dt``:

* ``"exact"`` (exponential): ``λ = exp(-dt/τ)``, input gain ``(1 − λ)·R``;
* ``"euler"`` (forward Euler, snnTorch's): ``λ = 1 − dt/τ``, input gain ``dt·R/τ``.

Both are written with ``R = 1/(1 − λ)`` so that the input gain is one. The helpers here pick, among the
float32 values near the ideal ``τ``, one that maps back to the very float32 ``λ`` (so that a round trip
through a ``.nir`` file is bit-exact), and move thresholds by one float32 ulp to turn spikeforge's
``v ≥ θ`` into NIR's ``v > v_threshold``.
"""

from __future__ import annotations

import numpy as np
import torch

MODES = ("exact", "euler")
# An input gain within this relative distance of 1 is taken as exactly 1: float32 τ and r cannot hold
# the ratio R·(1 − λ) = 1 exactly, and other tools' exporters round it too (snnTorch writes r = 9.999997).
GAIN_TOL = 1e-6
_SEARCH = 24  # float32 ulps tried on either side of the ideal τ


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise ValueError(f"discretization: expected one of {MODES}, got {mode!r}")
    return mode  # type: ignore[return-value]


def decay_from_tau(tau, dt: float, mode: str) -> np.ndarray:
    """``λ`` (float64) of a NIR time constant, as spikeforge's importer computes it."""
    tau = np.asarray(tau, dtype=np.float64)
    if mode == "exact":
        return np.exp(-dt / tau)
    return 1.0 - dt / tau


def decay32_from_tau(tau, dt: float, mode: str) -> np.ndarray:
    return decay_from_tau(tau, dt, mode).astype(np.float32)


def _euler32(tau32: np.ndarray, dt: float) -> np.ndarray:
    """``1 − dt/τ`` evaluated in float32 arithmetic, as snnTorch's importer does."""
    return (np.float32(1) - (np.float32(dt) / tau32).astype(np.float32)).astype(np.float32)


def tau_for_decay(lam32: np.ndarray, dt: float, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """float32 ``τ`` with ``decay32_from_tau(τ) == λ``; in Euler mode preferably also with the float32
    evaluation of ``1 − dt/τ`` equal to ``λ``. Returns ``(τ, exact)``, ``exact`` saying where one was found."""
    lam32 = np.asarray(lam32, dtype=np.float32)
    lam64 = lam32.astype(np.float64)
    if bool(np.any(lam64 <= 0)) or bool(np.any(lam64 >= 1)):
        raise ValueError(f"decay: a NIR time constant needs 0 < λ < 1, got λ in [{lam64.min():.6g}, {lam64.max():.6g}]")
    ideal = -dt / np.log(lam64) if mode == "exact" else dt / (1.0 - lam64)
    base = ideal.astype(np.float32)
    best = base.copy()
    found_ours = np.zeros(lam32.shape, dtype=bool)
    found_both = np.zeros(lam32.shape, dtype=bool)
    up, down = base.copy(), base.copy()
    candidates = [base]
    for _ in range(_SEARCH):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(0))
        candidates += [up, down]
    for cand in candidates:
        ours = decay32_from_tau(cand, dt, mode) == lam32
        both = ours & (_euler32(cand, dt) == lam32) if mode == "euler" else ours
        take = (both & ~found_both) | (ours & ~found_ours & ~found_both)
        best = np.where(take, cand, best)
        found_ours |= ours
        found_both |= both
    return best.astype(np.float32), found_ours


def core_tau_for_decay(target32: np.ndarray, dt: float) -> np.ndarray:
    """float32 ``τ`` for which the core's float32 ``torch.exp(-dt/τ)`` is ``target`` (closest if none is)."""
    target = torch.as_tensor(np.asarray(target32, dtype=np.float32))
    if bool(torch.any(target <= 0)) or bool(torch.any(target >= 1)):
        raise ValueError(f"decay: expected 0 < λ < 1, got λ in [{float(target.min()):.6g}, {float(target.max()):.6g}]")
    tau = torch.as_tensor(-dt / np.log(target.numpy().astype(np.float64)), dtype=torch.float32)
    best, err = tau.clone(), torch.full_like(tau, float("inf"))
    for _ in range(2 * _SEARCH):
        got = torch.exp(-dt / tau)
        e = (got.double() - target.double()).abs()
        better = e < err
        best, err = torch.where(better, tau, best), torch.where(better, e, err)
        if bool(torch.all(err == 0)):
            break
        # exp(-dt/τ) grows with τ: step towards the target one ulp at a time
        direction = torch.where(got < target, torch.full_like(tau, float("inf")), torch.zeros_like(tau))
        tau = torch.where(got == target, tau, torch.nextafter(tau, direction))
    return best.numpy()


def threshold_to_nir(theta32: np.ndarray) -> np.ndarray:
    """``v ≥ θ`` ⇔ ``v > nextafter(θ, −∞)`` for float32 ``v``: the NIR ``v_threshold``."""
    return np.nextafter(np.asarray(theta32, dtype=np.float32), np.float32(-np.inf))


def threshold_from_nir(v_thr) -> np.ndarray:
    """Inverse of :func:`threshold_to_nir`: NIR's strict ``v > v_thr`` as spikeforge's ``v ≥ θ``."""
    return np.nextafter(np.asarray(v_thr, dtype=np.float32), np.float32(np.inf))
