r"""Compare the spike codes of :data:`spikeforge.encode.ENCODERS` on static values in [0, 1].

For every encoder of the registry that gives spikes and has a paired ``decode``, and for each source of values
(``"uniform"``: ``L`` evenly spaced levels ``x_l = l / (L - 1)`` drawn uniformly; ``"digits"``: the pixel values
of scikit-learn's 8x8 digits, ``v / 16``, 17 levels, drawn from all pixels of all images), one value is coded
by one input over ``T`` steps and read back by the code's decoder. Measured:

* **spikes per value**: spike events (non-zero slots) per coded value.
* **bits**: the mutual information between the value's level ``X`` and the decoded level
  ``Y = round(clamp(x̂, 0, 1) · (L - 1))``, from the joint histogram of ``N`` draws:
  plug-in ``I = Σ p(x, y) log2(p(x, y) / (p(x) p(y)))``, and with the Miller–Madow correction
  ``I_MM = I - (m_XY - m_X - m_Y + 1) / (2 N ln 2)`` (``m``: occupied bins), whose bias is ``O(1/N)``;
  ``bits`` is ``I_MM`` clipped at 0, ``bits_plugin`` the plug-in value; ``bits_decoded`` the same estimate with
  the decoded value itself in place of its level (no loss from re-quantising a decoder's own grid onto the
  ``L`` levels; the decoded value is a function of the spike pattern, so it takes finitely many values).
* **spikes per bit**: spikes per value / bits.
* **bounds** (binary codes): ``n = T · c`` slots for a code with ``c`` channels per value; with at most ``m``
  spikes per value (``m``: the most any draw used) at most ``Σ_{j ≤ m} C(n, j)`` patterns exist, so
  ``I ≤ log2 Σ_{j ≤ m} C(n, j)`` (the plug-in estimate obeys it exactly: ``I ≤ H(Y) ≤ log2 #patterns``);
  with ``s̄`` spikes per value on average, ``I ≤ H(spikes) ≤ n · h2(min(s̄ / n, 1/2))``; and ``I ≤ log2 L``.
  Graded (counts > 1 per slot) and complex codes carry more than one bit per slot: no binary bound is given.
* **decoding window**: reading the first ``t`` steps (``t = 1 … T``) gives a running estimate, by the decoder
  applied either to those ``t`` steps as a code of length ``t`` or to the whole code with the later steps
  silent (the reader knows ``T``), whichever settles first; the window of a value is the first ``t`` from which
  the estimate stays within ``eps`` (default half a level, ``0.5 / (L - 1)``) of the full-length decode.
  Reported: its mean and 90th percentile over values, and the bits read after ``t`` steps (``bits_by_window``:
  the larger of the two readers' estimates).
* **robustness** (the "negligence of synapses"): each spike dropped with probability ``p``, or moved by a
  uniform integer in ``[-k, k]`` steps (clipped to the window; binary codes keep one spike where two land in
  one slot); bits and the RMS error of the decoded value against the true value at each ``p`` and ``k``.

Series encoders (``input_kind == "series"``, e.g. delta) see the value as a constant series of ``T`` steps and
are read at the last step. Encoders whose output is not spikes (e.g. ``current``: an analogue current) or that
have no ``decode`` are listed in ``skipped`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "CodeComparison",
    "binary_capacity_bits",
    "compare_codes",
    "drop_spikes",
    "jitter_spikes",
    "mean_budget_bits",
    "mutual_information",
]

SOURCES = ("uniform", "digits")


# --------------------------------------------------------------------------------------------------
def mutual_information(x: Tensor, y: Tensor, *, correction: str = "miller-madow") -> float:
    """Mutual information in bits between two integer label tensors of equal length, from their joint histogram.

    ``correction``: ``"miller-madow"`` (subtract ``(m_XY - m_X - m_Y + 1) / (2 N ln 2)``, the
    sum of the Miller–Madow entropy corrections ``(m - 1) / (2 N ln 2)``) or ``"none"`` (plug-in).
    """
    if correction not in ("miller-madow", "none"):
        raise ValueError(f"mutual_information: correction must be 'miller-madow' or 'none'; got {correction!r}")
    x, y = torch.as_tensor(x).reshape(-1).long(), torch.as_tensor(y).reshape(-1).long()
    if x.shape != y.shape or x.numel() == 0:
        raise ValueError(f"mutual_information: x and y must be non-empty and of equal length; got {x.numel()} "
                         f"and {y.numel()}")
    _, xi = torch.unique(x, return_inverse=True)
    _, yi = torch.unique(y, return_inverse=True)
    nx, ny = int(xi.max()) + 1, int(yi.max()) + 1
    joint = torch.bincount(xi * ny + yi, minlength=nx * ny).reshape(nx, ny).to(torch.float64)
    n = float(x.numel())
    pxy = joint / n
    px, py = pxy.sum(1, keepdim=True), pxy.sum(0, keepdim=True)
    nz = pxy > 0
    mi = float((pxy[nz] * torch.log2(pxy[nz] / (px @ py)[nz])).sum())
    if correction == "miller-madow":
        mi += (nx + ny - int(nz.sum()) - 1) / (2.0 * n * math.log(2.0))  # H_MM(X) + H_MM(Y) - H_MM(X, Y)
    return mi


def binary_capacity_bits(slots: int, budget: int) -> float:
    """``log2 Σ_{j ≤ m} C(n, j)``: the bits ``n`` binary slots can carry with at most ``m`` spikes."""
    for name, v in (("slots", slots), ("budget", budget)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"binary_capacity_bits: {name} must be an int >= 0; got {v!r}")
    return math.log2(sum(math.comb(slots, j) for j in range(min(budget, slots) + 1)))


def mean_budget_bits(slots: int, mean_spikes: float) -> float:
    """``n · h2(min(s̄ / n, 1/2))``: the most entropy ``n`` binary slots hold with ``s̄`` spikes on average."""
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"mean_budget_bits: slots must be an int >= 1; got {slots!r}")
    q = min(max(float(mean_spikes) / slots, 0.0), 0.5)
    if q <= 0.0:
        return 0.0
    return slots * -(q * math.log2(q) + (1 - q) * math.log2(1 - q))


def drop_spikes(spikes: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Each spike event (non-zero slot) of ``spikes`` removed independently with probability ``p``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop_spikes: p must lie in [0, 1]; got {p!r}")
    keep = torch.rand(spikes.shape, generator=generator) >= p
    return spikes * keep.to(spikes.real.dtype if spikes.is_complex() else spikes.dtype)


def jitter_spikes(spikes: Tensor, k: int, generator: torch.Generator | None = None, binary: bool = True) -> Tensor:
    """Each spike event of ``spikes [T, ...]`` moved by a uniform integer in ``[-k, k]`` steps, clipped to
    ``[0, T - 1]``; events landing in one slot add up (``binary``: then clamped to 1)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"jitter_spikes: k must be an int >= 0; got {k!r}")
    if k == 0:
        return spikes.clone()
    steps = spikes.shape[0]
    flat = spikes.reshape(steps, -1)
    t, j = torch.nonzero(flat != 0, as_tuple=True)
    shift = torch.randint(-k, k + 1, t.shape, generator=generator)
    t2 = (t + shift).clamp(0, steps - 1)
    out = torch.zeros_like(flat)
    out.index_put_((t2, j), flat[t, j], accumulate=True)
    if binary and not out.is_complex():
        out = out.clamp(max=1.0)
    return out.reshape(spikes.shape)


# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Code:
    name: str
    encoder: Any
    series: bool

    def encode(self, x: Tensor, steps: int, gen: torch.Generator) -> Tensor:
        """``x [N]`` -> spikes ``[T, N, c]``."""
        inp = x.reshape(-1, 1)
        if self.series:
            inp = inp.unsqueeze(0).expand(steps, -1, -1).contiguous()
        out = self.encoder(inp, generator=gen)
        return out.reshape(out.shape[0], x.numel(), -1)

    def decode(self, spikes: Tensor, n: int) -> Tensor:
        """spikes ``[t, N, c]`` -> estimates ``[N]``."""
        shape = (spikes.shape[0], n, *self.feature_shape)
        est = self.encoder.decode(spikes.reshape(shape))
        if est.is_complex():
            est = est.real
        if est.numel() == n:
            return est.reshape(n).to(torch.float64)
        if est.shape[0] == spikes.shape[0] and est.numel() == spikes.shape[0] * n:
            return est.reshape(spikes.shape[0], n)[-1].to(torch.float64)  # a series decoder: the level at the end
        raise ValueError(f"compare_codes: {self.name}.decode gave shape {tuple(est.shape)} for {n} values")

    feature_shape: tuple[int, ...] = ()


def _make_code(name: str, cls: type, steps: int, params: Mapping[str, Any]) -> _Code | str:
    """The code to compare, or the reason to skip it."""
    from spikeforge.encode.registry import make_encoder

    fields = getattr(cls, "__dataclass_fields__", {})
    p = dict(params)
    if "steps" in fields and "steps" not in p:
        p["steps"] = steps
    try:
        enc = make_encoder(name, **p)
    except (TypeError, ValueError) as exc:
        return f"cannot be built for static values with {p}: {exc}"
    if not callable(getattr(enc, "decode", None)):
        return "no paired decoder (decode)"
    series = getattr(enc, "input_kind", "static") == "series"
    probe = torch.linspace(0.0, 1.0, 11, dtype=torch.float32)
    inp = probe.reshape(-1, 1)
    try:
        raw = enc(inp.unsqueeze(0).expand(steps, -1, -1).contiguous() if series else inp,
                  generator=torch.Generator().manual_seed(0))
    except (TypeError, ValueError, RuntimeError) as exc:
        return f"does not code static values in [0, 1]: {exc}"
    if raw.dim() < 2 or raw.shape[1] != probe.numel():
        return f"its output {tuple(raw.shape)} is not time-major [T, B, ...] for B = {probe.numel()} values"
    code = _Code(name, enc, series, tuple(raw.shape[2:]))
    out = raw.reshape(raw.shape[0], probe.numel(), -1)
    if not out.is_complex():
        if bool((out < 0).any()) or not torch.equal(out, out.round()):
            return "not a spike code: its output is an analogue current (non-integer values), not spike events"
    try:
        code.decode(out, probe.numel())
    except (TypeError, ValueError, RuntimeError) as exc:
        return f"its decoder does not read its own output back: {exc}"
    return code


def _levels(est: Tensor, levels: int) -> Tensor:
    return torch.round(est.clamp(0.0, 1.0) * (levels - 1)).long()


def _quality(code: _Code, spikes: Tensor, lab: Tensor, x: Tensor, levels: int) -> dict[str, float]:
    est = code.decode(spikes, x.numel())
    return {"bits": max(mutual_information(lab, _levels(est, levels)), 0.0),
            "rmse": float(torch.sqrt(((est - x.double()) ** 2).mean()))}


def _try_decode(code: _Code, spikes: Tensor, n: int) -> Tensor:
    try:
        return code.decode(spikes, n)
    except (ValueError, RuntimeError, IndexError):
        return torch.full((n,), math.nan, dtype=torch.float64)


def _window(code: _Code, spikes: Tensor, n: int, steps: int, eps: float, lab: Tensor,
            levels: int) -> tuple[Tensor, list[list[float]]]:
    """Per-value decoding window (steps) and the bits read after ``t`` steps."""
    final = code.decode(spikes, n)
    ok_trunc = torch.ones(n, dtype=torch.bool)
    ok_pad = torch.ones(n, dtype=torch.bool)
    settle_trunc = torch.full((n,), steps, dtype=torch.long)
    settle_pad = torch.full((n,), steps, dtype=torch.long)
    by_t: dict[int, float] = {}
    for t in range(steps, 0, -1):  # backwards: "stays within eps from t on" is a running AND
        trunc = _try_decode(code, spikes[:t], n)  # some decoders need a whole period: no estimate before
        padded = spikes.clone()
        padded[t:] = 0
        pad = _try_decode(code, padded, n)
        ok_trunc &= (trunc - final).abs() <= eps + 1e-9
        ok_pad &= (pad - final).abs() <= eps + 1e-9
        settle_trunc = torch.where(ok_trunc, torch.full_like(settle_trunc, t), settle_trunc)
        settle_pad = torch.where(ok_pad, torch.full_like(settle_pad, t), settle_pad)
        by_t[t] = max([0.0] + [mutual_information(lab, _levels(e, levels)) for e in (trunc, pad)
                               if bool(torch.isfinite(e).all())])
    settled = torch.minimum(settle_trunc, settle_pad)
    return settled, [[t, by_t[t]] for t in sorted(by_t)]


def _values(source: str, n: int, levels: int, gen: torch.Generator) -> tuple[Tensor, Tensor, int]:
    """``(values [n], level labels [n], number of levels)``."""
    if source == "uniform":
        lab = torch.randint(0, levels, (n,), generator=gen)
        return lab.to(torch.float32) / (levels - 1), lab, levels
    from sklearn.datasets import load_digits

    pixels = torch.as_tensor(load_digits().data.reshape(-1), dtype=torch.long)  # 0 … 16
    lab = pixels[torch.randint(0, pixels.numel(), (n,), generator=gen)]
    return lab.to(torch.float32) / 16.0, lab, 17


_METHOD = " ".join((__doc__ or "").split())  # the module docstring: the definitions, stored with every result


@dataclass(frozen=True)
class CodeComparison:
    """What :func:`compare_codes` measured: ``codes[name][source]`` rows, ``skipped[name]`` reasons, the settings."""

    settings: dict[str, Any]
    codes: dict[str, dict[str, Any]]
    skipped: dict[str, str] = field(default_factory=dict)
    method: str = _METHOD

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "codes": self.codes, "skipped": self.skipped,
                "method": self.method}

    def rows(self, source: str = "uniform") -> list[dict[str, Any]]:
        """One flat row per code for ``source`` (for tables)."""
        out = []
        for name, c in self.codes.items():
            if source in c["sources"]:
                out.append({"code": name, "budget": c["budget"], **c["sources"][source]})
        return out


def _budget_text(binary: bool, complex_: bool, slots: int, max_spikes: int) -> str:
    if complex_:
        return "complex spikes (a phase per spike): no binary bound"
    if not binary:
        return "graded spikes (counts > 1 per slot): no binary bound"
    if max_spikes == 1:
        return f"one spike per value in {slots} slots"
    if max_spikes >= slots:
        return f"any spikes in {slots} slots (bound = {slots} bits)"
    return f"at most {max_spikes} spikes in {slots} slots (the most any draw used)"


def compare_codes(
    names: Sequence[str] | None = None,
    *,
    steps: int = 25,
    levels: int = 16,
    samples: int = 20000,
    window_samples: int = 2000,
    sources: Sequence[str] = SOURCES,
    drop: Sequence[float] = (0.1, 0.2, 0.5),
    jitter: Sequence[int] = (1, 2, 4),
    eps: float | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    threads: int | None = 1,
) -> CodeComparison:
    """Measure every registry code (or those in ``names``) on static values; see :mod:`spikeforge.encode.compare`.

    ``params``: encoder parameters by name (besides ``steps``, which every static encoder gets). By default
    ``delta`` uses ``threshold = 1 / (steps - 1)`` (a unary code that can climb from 0 to 1 within the window; its
    own default, 0.3, is for standardised series) and ``population`` ``output="spikes", low=0, high=1`` (its
    defaults are an analogue current over ±2 standard deviations).
    RNG-neutral: random codes draw from a generator seeded with ``seed``. ``threads``: torch's intra-op threads
    while measuring (restored after; 1 by default: the tensors are small, and on a busy machine a second thread
    makes each operation wait for it), ``None`` to leave them as they are.
    """
    if threads is None:
        return _compare(names, steps, levels, samples, window_samples, sources, drop, jitter, eps, params, seed)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"compare_codes: threads must be an int >= 1 or None; got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _compare(names, steps, levels, samples, window_samples, sources, drop, jitter, eps, params, seed)
    finally:
        torch.set_num_threads(before)


def _compare(names, steps, levels, samples, window_samples, sources, drop, jitter, eps, params, seed) -> CodeComparison:
    from spikeforge.encode.registry import ENCODERS

    for nm, v, lo in (("steps", steps, 2), ("levels", levels, 2), ("samples", samples, 10),
                      ("window_samples", window_samples, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ValueError(f"compare_codes: {nm} must be an int >= {lo}; got {v!r}")
    bad = [s for s in sources if s not in SOURCES]
    if bad or not sources:
        raise ValueError(f"compare_codes: sources must be a non-empty list of {SOURCES}; got {list(sources)!r}")
    for p in drop:
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"compare_codes: drop probabilities must lie in [0, 1]; got {p!r}")
    for k in jitter:
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"compare_codes: jitter must be ints >= 0; got {k!r}")
    if names is None:
        names = list(ENCODERS)
    unknown = [n for n in names if n not in ENCODERS]
    if unknown:
        raise ValueError(f"compare_codes: unknown codes {unknown}; expected names of {sorted(ENCODERS)}")
    params = {k: dict(v) for k, v in (params or {}).items()}
    params.setdefault("delta", {"threshold": 1.0 / (steps - 1)})
    params.setdefault("population", {"output": "spikes", "low": 0.0, "high": 1.0})

    codes: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for name in names:
        made = _make_code(name, ENCODERS[name], steps, params.get(name, {}))
        if isinstance(made, str):
            skipped[name] = made
            continue
        gen = torch.Generator().manual_seed(seed)
        entry: dict[str, Any] = {"params": {k: v for k, v in params.get(name, {}).items()}, "sources": {}}
        for source in sources:
            # the values come from their own generator: every code sees the same draws
            vgen = torch.Generator().manual_seed(seed + 1000 + SOURCES.index(source))
            x, lab, lv = _values(source, samples, levels, vgen)
            spikes = made.encode(x, steps, gen)
            complex_ = spikes.is_complex()
            events = (spikes != 0).reshape(spikes.shape[0], samples, -1).sum((0, 2))
            binary = not complex_ and float(spikes.max()) <= 1.0 if spikes.numel() else True
            slots = int(spikes.shape[0] * spikes[0, 0].numel())
            max_spikes = int(events.max())
            spv = float(events.double().mean())
            plug_est = made.decode(spikes, samples)
            plugin = mutual_information(lab, _levels(plug_est, lv), correction="none")
            # the decoded value itself (a function of the spike pattern: finitely many values), not re-quantised
            raw_key = torch.round(plug_est * 1e6).long()
            bits_decoded = max(mutual_information(lab, raw_key), 0.0)
            qual = _quality(made, spikes, lab, x, lv)
            w = min(window_samples, samples)
            eps_v = 0.5 / (lv - 1) if eps is None else float(eps)
            win, by_t = _window(made, spikes[:, :w], w, spikes.shape[0], eps_v, lab[:w], lv)
            row: dict[str, Any] = {
                "levels": lv, "samples": samples, "channels_per_value": int(spikes[0, 0].numel()),
                "spikes_per_value": spv, "max_spikes_per_value": max_spikes,
                "bits": qual["bits"], "bits_plugin": plugin, "bits_decoded": bits_decoded, "rmse": qual["rmse"],
                "spikes_per_bit": spv / qual["bits"] if qual["bits"] > 1e-9 else math.inf,
                "source_bits": math.log2(lv) if source == "uniform" else
                float(-(torch.bincount(lab, minlength=lv).double() / samples).clamp(min=1e-300).log2()
                      .mul(torch.bincount(lab, minlength=lv).double() / samples).sum()),
                "binary": binary, "complex": complex_, "slots": slots,
                "bound_budget_bits": binary_capacity_bits(slots, max_spikes) if binary else None,
                "bound_mean_bits": mean_budget_bits(slots, spv) if binary else None,
                "window_eps": eps_v, "window_samples": w,
                "window_mean": float(win.double().mean()), "window_p90": float(torch.quantile(win.double(), 0.9)),
                "bits_by_window": by_t,
                "drop": [{"p": float(p), **_quality(made, drop_spikes(spikes, float(p), gen), lab, x, lv)}
                         for p in drop],
                "jitter": [{"k": int(k), **_quality(made, jitter_spikes(spikes, int(k), gen, binary), lab, x, lv)}
                           for k in jitter],
            }
            entry["budget"] = _budget_text(binary, complex_, slots, max_spikes)
            entry["sources"][source] = row
        codes[name] = entry
    settings = {"steps": steps, "levels": levels, "samples": samples, "window_samples": window_samples,
                "sources": list(sources), "drop": [float(p) for p in drop], "jitter": [int(k) for k in jitter],
                "eps": eps, "seed": seed, "params": params,
                "mi_estimator": "joint histogram of (level, decoded level); Miller-Madow corrected, clipped at 0"}
    return CodeComparison(settings, codes, skipped)


# --------------------------------------------------------------------------------------------------
def comparison_table(result: CodeComparison, source: str = "uniform"):
    """A ``rich`` table of ``result`` for ``source``."""
    from rich.table import Table

    s = result.settings
    table = Table(title=f"spike codes on {source} values: T = {s['steps']} steps, {s['samples']} draws")
    for col in ("code", "spikes/value", "bits / source", "bits, raw decode", "bound [bits]", "spikes/bit",
                "window mean / p90", "rmse", "bits, drop p", "bits, jitter ±k"):
        table.add_column(col, justify="left" if col == "code" else "right")
    for r in result.rows(source):
        bound = "—" if r["bound_budget_bits"] is None else f"{r['bound_budget_bits']:.2f}"
        table.add_row(
            r["code"], f"{r['spikes_per_value']:.2f}", f"{r['bits']:.3f} / {r['source_bits']:.2f}",
            f"{r['bits_decoded']:.3f}", bound,
            f"{r['spikes_per_bit']:.2f}", f"{r['window_mean']:.1f} / {r['window_p90']:.0f}", f"{r['rmse']:.3f}",
            " ".join(f"{d['p']:g}:{d['bits']:.2f}" for d in r["drop"]),
            " ".join(f"{d['k']}:{d['bits']:.2f}" for d in r["jitter"]),
        )
    return table


def comparison_markdown(result: CodeComparison, source: str = "uniform") -> str:
    """The table of :func:`comparison_table` as Markdown (for docs)."""
    head = ("| code | budget | spikes / value | bits (of source) | bits, raw decode | bound [bits] | spikes / bit | "
            "window mean / p90 [steps] | RMSE | bits at drop p | bits at jitter ±k |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in result.rows(source):
        bound = "—" if r["bound_budget_bits"] is None else f"{r['bound_budget_bits']:.2f}"
        spb = r["spikes_per_bit"]  # None where a JSON copy stood for infinity (a code that carries nothing)
        spb = "∞" if spb is None or not math.isfinite(spb) else f"{spb:.2f}"
        lines.append(
            f"| {r['code']} | {r['budget']} | {r['spikes_per_value']:.2f} | {r['bits']:.3f} ({r['source_bits']:.2f}) | "
            f"{r['bits_decoded']:.3f} | {bound} | {spb} | {r['window_mean']:.1f} / {r['window_p90']:.0f} | "
            f"{r['rmse']:.3f} | " + ", ".join(f"{d['p']:g}: {d['bits']:.2f}" for d in r["drop"]) + " | "
            + ", ".join(f"{d['k']}: {d['bits']:.2f}" for d in r["jitter"]) + " |")
    return "\n".join(lines)


def plot_comparison(result: CodeComparison, path: str, source: str = "uniform") -> None:
    """Save a two-panel picture: bits against spikes per value, and bits against the steps read."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    try:
        rows = result.rows(source)
        for i, r in enumerate(rows):
            color = plt.cm.tab20(i % 20)  # one colour per code in both panels
            style = ("-", "--", "-.")[i // 7 % 3]
            x0 = max(r["spikes_per_value"], 1e-2)
            a.scatter(x0, r["bits"], s=40, color=color)
            a.annotate(r["code"], (x0, r["bits"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
            drops = [(0.0, r["bits"])] + [(d["p"], d["bits"]) for d in r["drop"]]
            a.plot([max(x0 * (1 - p), 1e-2) for p, _ in drops], [v for _, v in drops], ":", lw=1, color=color)
            t, v = zip(*r["bits_by_window"])
            b.plot(t, v, style, label=r["code"], color=color)
        a.set_xscale("log")
        a.set_xlabel("spikes per value")
        a.set_ylabel("bits (mutual information)")
        a.set_title(f"bits against spikes, {source} values (dotted: spikes dropped)", fontsize=10)
        b.set_xlabel("steps read (decoding window)")
        b.set_ylabel("bits")
        b.set_title("bits against window length")
        b.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
