"""Kernel technology of the CPU LIF scan, chosen by measurement.

One layer ``[T=100, B=32, N=256]`` (float32, flat ``[T, M=8192]``), per-neuron λ and θ, soft reset, Cauchy
surrogate (σ = 0.5), no parameter gradients. The same forward (``v* = λ·v + x_t``, ``s = [v* ≥ θ]``,
``v = v* − θ·s``, saving ``v*``) and reverse-time backward (``spikeforge.kernels.fast_lif``) in:

* pure torch: ``fast_lif.scan_forward / scan_backward(impl="torch")``;
* numba: the same with ``impl="numba"`` (``spikeforge.kernels._numba_lif``);
* spikeforge's C library as installed (``impl="c"``: ``_ckernels.c`` built by ``setup.py`` with portable flags
  and an AVX2 clone picked at load time), when it was built;
* C: the two loops below, compiled now with ``gcc -O3 -march=native -shared -fPIC`` plus ``-ffp-contract=off``
  (no fused multiply-add: ``v*`` bit-identical to torch's) and ``-fno-trapping-math`` (else the compare
  ``v* ≥ θ`` is control flow and the forward loop does not vectorise) into a temporary directory, loaded with
  ``ctypes`` and called on the tensors' data pointers, on 1 thread and split over 2 (disjoint neuron ranges,
  as numba does; ctypes releases the GIL);
* torch.compile (inductor, CPU): the Python time loop, with a compiled hand-written backward loop, and with
  autograd's backward through a custom spike function.

Every implementation is checked against pure torch first (spikes identical, ``v*``, ``dL/dx`` and ``dL/dv0``
to 1e-5 relative). Then forward (no grad) and forward+backward are timed, median and best of ``--reps``
calls, in ``--rounds`` interleaved rounds (the implementations take turns; 3 warm-up calls each round),
``torch.set_num_threads(2)``, with glibc told to keep freed memory (``mallopt``): every implementation
allocates the same outputs, and their page faults would otherwise dominate the noise. The compile/first-call
cost and the resident memory cost of loading numba (import + kernels, in a fresh process, cold and cached JIT)
and the C library (fresh process) are measured too; torch.compile's memory cost is the in-process VmRSS
increase over its compilations (the first torch.compile row includes importing dynamo/inductor).

    python benchmarks/kernel_tech.py [--write-docs]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peers import _rss_mb as _rss  # noqa: E402  (VmRSS of this process, MiB, from /proc/self/status)

T, B, N, SIGMA = 100, 32, 256, 0.5
CFLAGS = ["-O3", "-march=native", "-shared", "-fPIC", "-ffp-contract=off", "-fno-trapping-math"]
C_SRC = r"""
void lif_fwd(const float *restrict x, float *restrict v, const float *restrict lam, const float *restrict th,
             float *restrict out, float *restrict vstar, long T, long M, long m0, long m1, int save) {
    for (long t = 0; t < T; ++t) {
        const float *xt = x + t * M; float *ot = out + t * M, *st = vstar + t * M;
        for (long m = m0; m < m1; ++m) {
            float vs = lam[m] * v[m] + xt[m];
            float s = vs >= th[m] ? 1.0f : 0.0f;
            if (save) st[m] = vs;
            ot[m] = s;
            v[m] = vs - th[m] * s;
        }
    }
}
void lif_bwd(const float *restrict go, float *restrict gv, const float *restrict vstar, const float *restrict lam,
             const float *restrict th, float *restrict gx, float sigma, long T, long M, long m0, long m1) {
    const float c = sigma / 3.14159265358979323846f, s2 = sigma * sigma;
    for (long t = T - 1; t >= 0; --t) {
        const float *gt = go + t * M, *st = vstar + t * M; float *xt = gx + t * M;
        for (long m = m0; m < m1; ++m) {
            float z = st[m] - th[m], f = c / (z * z + s2), g = gv[m];
            float gvs = g + (gt[m] - th[m] * g) * f;  /* soft reset: ds/dv* = f, dv/ds = -theta */
            xt[m] = gvs;
            gv[m] = lam[m] * gvs;
        }
    }
}
"""


def load_c(path: str):
    lib = ctypes.CDLL(path)  # CDLL (not PyDLL) releases the GIL during calls
    p, i = ctypes.c_void_p, ctypes.c_long
    lib.lif_fwd.argtypes = [p] * 6 + [i] * 4 + [ctypes.c_int]
    lib.lif_bwd.argtypes = [p] * 6 + [ctypes.c_float] + [i] * 4
    return lib


def probe(kind: str, lib: str) -> dict:
    """Fresh process: VmRSS and time of loading numba + its kernels, or the C library (baseline: torch imported)."""
    import torch

    from spikeforge.kernels import fast_lif as fl
    from spikeforge.neuron.dynamics import NeuronSpec
    from spikeforge.neuron.firing import Cauchy

    x, v, one = torch.rand(2, 16), torch.zeros(16), torch.ones(16)
    rss0, t0 = _rss(), time.perf_counter()
    if kind == "numba":
        if not fl.numba_available():
            raise RuntimeError("numba is not available")
        t1 = time.perf_counter()
        spec = NeuronSpec(firing=Cauchy(SIGMA))
        fl.scan_forward(x, v.clone(), one, one, spec, "numba", False)
        out, _, vs = fl.scan_forward(x, v.clone(), one, one, spec, "numba", True)
        fl.scan_backward(x, v.clone(), vs, out, v, one, one, spec, "numba", False, False)
    else:
        c = load_c(lib)
        t1 = time.perf_counter()
        c.lif_fwd(*ptrs(x, v, one, one, x, x), 2, 16, 0, 16, 0)
    t2 = time.perf_counter()
    return {"load_s": t1 - t0, "first_s": t2 - t1, "rss_mb": _rss() - rss0}


def run_probe(kind: str, lib: str = "", env: dict | None = None) -> dict:
    res = subprocess.run([sys.executable, __file__, "--probe", kind, "--lib", lib], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if res.returncode:
        return {"error": (res.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def keep_freed_memory() -> bool:
    """glibc: serve big blocks from the heap and never trim it, so freed output buffers are reused and no timing
    includes the page faults of fresh memory (left on, they come and go with the heap's state: ±10 ms here)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, 1 << 25) and libc.mallopt(-1, 1 << 30))  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return False


def ptrs(*tensors) -> list[int]:
    return [t.data_ptr() for t in tensors]


def bench(fn, reps: int) -> list[float]:
    """ms of each of ``reps`` calls after 3 warm-up calls."""
    ts = []
    for i in range(reps + 3):
        t0 = time.perf_counter()
        fn()
        ts += [(time.perf_counter() - t0) * 1e3] if i >= 3 else []
    return ts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=30, help="timed calls per implementation, over all rounds")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    ap.add_argument("--lib", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.lib)))
        return 0
    if not keep_freed_memory():
        print("note: mallopt unavailable; timings include page faults of freshly allocated outputs", file=sys.stderr)
    tmp = tempfile.TemporaryDirectory(prefix="kernel_tech_")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(tmp.name, "inductor")  # cold compile, no stale cache
    import torch

    from spikeforge.kernels import fast_lif as fl
    from spikeforge.neuron.dynamics import NeuronSpec
    from spikeforge.neuron.firing import Cauchy

    torch.set_num_threads(2)
    torch.manual_seed(0)
    M = B * N
    spec = NeuronSpec(firing=Cauchy(SIGMA), reset="soft")
    x = (torch.randn(T, M) * 0.6 + 0.25).contiguous()
    lam = (0.8 + 0.15 * torch.rand(N)).expand(B, N).reshape(-1).contiguous()
    th = (1.0 + 0.2 * torch.rand(N)).expand(B, N).reshape(-1).contiguous()
    v0, go, gv = torch.randn(M) * 0.3, torch.randn(T, M), torch.randn(M)
    rows: list[dict] = []

    def scan(impl):
        def infer():
            return fl.scan_forward(x, v0.clone(), lam, th, spec, impl, False)[0]

        def train():
            out, _, vs = fl.scan_forward(x, v0.clone(), lam, th, spec, impl, True)
            gx, gv0, _, _ = fl.scan_backward(go, gv.clone(), vs, out, v0, lam, th, spec, impl, False, False)
            return {"out": out, "vstar": vs, "gx": gx, "gv0": gv0}
        return infer, train

    # --- C: compile and load -------------------------------------------------------------------------------
    src, so = os.path.join(tmp.name, "lif.c"), os.path.join(tmp.name, "liblif.so")
    Path(src).write_text(C_SRC)
    t0 = time.perf_counter()
    cc = subprocess.run(["gcc", *CFLAGS, src, "-o", so], capture_output=True, text=True)
    c_compile_s = time.perf_counter() - t0
    clib = load_c(so) if cc.returncode == 0 else None
    pool = ThreadPoolExecutor(max_workers=1)

    def split(call, threads):
        bounds = [min(16 * ((M + 15) // 16 * i // threads), M) for i in range(threads + 1)]
        futs = [pool.submit(call, bounds[i], bounds[i + 1]) for i in range(threads - 1)]
        call(bounds[-2], bounds[-1])  # the calling thread takes the last block
        for f in futs:
            f.result()

    def c_impl(threads):
        def fwd(save):
            out, v = torch.empty_like(x), v0.clone()
            vs = torch.empty_like(x) if save else out
            split(lambda a, b: clib.lif_fwd(*ptrs(x, v, lam, th, out, vs), T, M, a, b, int(save)), threads)
            return out, vs

        def train():
            out, vs = fwd(True)
            gx, g = torch.empty_like(x), gv.clone()
            split(lambda a, b: clib.lif_bwd(*ptrs(go, g, vs, lam, th, gx), SIGMA, T, M, a, b), threads)
            return {"out": out, "vstar": vs, "gx": gx, "gv0": g}
        return lambda: fwd(False)[0], train

    # --- torch.compile: the Python time loop ------------------------------------------------------------
    class Spike(torch.autograd.Function):  # Heaviside forward, Cauchy density backward
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return (z >= 0).to(z.dtype)

        @staticmethod
        def backward(ctx, g):
            return g * (SIGMA / math.pi) / (ctx.saved_tensors[0] ** 2 + SIGMA * SIGMA)

    def loop_fwd(xf, v, lam, th, save: bool, autograd: bool = False):
        outs, vss = [], []
        for t in range(xf.shape[0]):
            vs = lam * v + xf[t]
            s = Spike.apply(vs - th) if autograd else (vs >= th).to(xf.dtype)
            v = vs - th * s
            outs.append(s)
            vss.append(vs)
        return torch.stack(outs), v, (torch.stack(vss) if save else None)

    def loop_bwd(go, gv, vstar, lam, th):
        f = (SIGMA / math.pi) / ((vstar - th) ** 2 + SIGMA * SIGMA)
        gxs = []
        for t in range(go.shape[0] - 1, -1, -1):
            g = gv + (go[t] - th * gv) * f[t]
            gxs.append(g)
            gv = lam * g
        return torch.stack(gxs[::-1]), gv

    def compiled_hand():
        cf, cb = torch.compile(loop_fwd), torch.compile(loop_bwd)

        def train():
            out, _, vs = cf(x, v0, lam, th, True)
            gx, gv0 = cb(go, gv, vs, lam, th)
            return {"out": out, "vstar": vs, "gx": gx, "gv0": gv0}
        return lambda: cf(x, v0, lam, th, False)[0], train

    def compiled_autograd():
        ca = torch.compile(loop_fwd)

        def train():
            xr, vr = x.clone().requires_grad_(), v0.clone().requires_grad_()
            out, v, _ = ca(xr, vr, lam, th, False, True)
            torch.autograd.backward([out, v], [go, gv])
            return {"out": out.detach(), "gx": xr.grad, "gv0": vr.grad}
        return None, train

    ref = scan("torch")[1]()

    def check(res: dict) -> None:
        if not torch.equal(res["out"], ref["out"]):
            raise AssertionError(f"spikes differ at {int((res['out'] != ref['out']).sum())} of {ref['out'].numel()}")
        for k in ("vstar", "gx", "gv0"):
            if k in res:
                torch.testing.assert_close(res[k], ref[k], rtol=1e-5, atol=1e-5 * float(ref[k].abs().max()), msg=k)

    def measure(name, make, cost=None, rss=None):
        row = {"name": name, "fwd": "—", "train": "—", "cost": cost or "", "rss": rss or ""}
        rows.append(row)
        try:
            r0, t0 = _rss(), time.perf_counter()
            infer, train = make()
            res = train()  # first call: compiles where there is anything to compile
            t1 = time.perf_counter()
            if infer is not None and not torch.equal(infer(), ref["out"]):
                raise AssertionError("forward (no grad): spikes differ")
            t2 = time.perf_counter()
            check(res)
            row["cost"] = cost or f"train {t1 - t0:.3g} s" + (f" + infer {t2 - t1:.3g} s" if infer else "")
            row["rss"] = rss or f"{_rss() - r0:.0f} (in-process)"
            row["fns"] = {k: fn for k, fn in (("fwd", infer), ("train", train)) if fn is not None}
        except Exception as e:  # report, don't hide
            msg = f"{type(e).__name__}: {e}".strip().replace("\n", " ")
            print(f"{name}: FAILED {msg}", file=sys.stderr)
            row["fwd"] = "FAILED: " + msg[:240].replace("|", "/")
        print(f"{name}: {row['fwd'] if 'fns' not in row else 'checked'} ({row['cost']})", flush=True)

    measure("pure torch", lambda: scan("torch"), rss="0 (baseline)")
    nb_cold = run_probe("numba", env={"NUMBA_CACHE_DIR": os.path.join(tmp.name, "numba")})
    nb_warm = run_probe("numba", env={"NUMBA_CACHE_DIR": os.path.join(tmp.name, "numba")})
    if "error" in nb_cold or "error" in nb_warm:
        nb_cost = nb_rss = f"probe failed: {nb_cold.get('error') or nb_warm.get('error')}"
    else:
        nb_cost = (f"import {nb_cold['load_s']:.2f} s + JIT {nb_cold['first_s']:.2f} s cold / "
                   f"{nb_warm['load_s']:.2f} + {nb_warm['first_s']:.2f} s cached")
        nb_rss = f"{nb_cold['rss_mb']:.0f} cold / {nb_warm['rss_mb']:.0f} cached"
    measure("numba (2 threads)", lambda: (fl.numba_available(), scan("numba"))[1], nb_cost, nb_rss)
    if clib is None:
        rows.append({"name": "C (gcc)", "fwd": f"FAILED: gcc: {cc.stderr.strip()[:200]}", "train": "—", "cost": "",
                     "rss": ""})
    else:
        cp = run_probe("c", so)
        c_cost = f"gcc {c_compile_s:.2f} s + load {cp.get('load_s', float('nan')) * 1e3:.1f} ms"
        c_rss = f"{cp['rss_mb']:.1f}" if "rss_mb" in cp else f"probe failed: {cp.get('error')}"
        measure("C gcc -O3 (1 thread)", lambda: c_impl(1), c_cost, c_rss)
        measure("C gcc -O3 (2 threads)", lambda: c_impl(2), c_cost, c_rss)
    if fl.c_available():  # the library setup.py built at install time (portable flags, AVX2 clone at load time)
        measure("C, spikeforge's installed library (`_ckernels`, 2 threads)", lambda: scan("c"))
    measure("torch.compile (loop + hand-written backward loop)", compiled_hand)
    measure("torch.compile (loop + autograd backward)", compiled_autograd)

    for rnd in range(args.rounds):  # interleaved: a noisy spell of the machine hits every implementation alike
        for r in rows:
            for k, fn in r.get("fns", {}).items():
                r.setdefault(k + "_times", []).extend(bench(fn, -(-args.reps // args.rounds)))
        print(f"round {rnd + 1}/{args.rounds} done", flush=True)
    for r in rows:
        for k in r.get("fns", {}):
            ts = r[k + "_times"]
            r[k + "_ms"] = (statistics.median(ts), min(ts))
            r[k] = "{:.2f} / {:.2f}".format(*r[k + "_ms"])
    lines = ["| implementation | forward ms median / best | forward+backward ms median / best | "
             "first-call / compile s | RSS cost MB |", "|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['fwd']} | {r['train']} | {r['cost']} | {r['rss']} |" for r in rows]
    ok = {r["name"]: r for r in rows if "train_ms" in r}
    parts = []
    for key, what in (("train_ms", "forward+backward"), ("fwd_ms", "forward")):
        cand = sorted((r[key][0], n) for n, r in ok.items() if key in r)
        if cand:
            best, name = cand[0]
            vs = [f"{ok[n][key][0] / best:.1f}× faster than {n}" for n in ("pure torch", "numba (2 threads)")
                  if n in ok and n != name and key in ok[n]]
            nxt = f"; runner-up {cand[1][1]} ({cand[1][0] / best:.2f}×)" if len(cand) > 1 else ""
            parts.append(f"fastest {what}: {name} at {best:.2f} ms median ({', '.join(vs) or '-'}{nxt})")
    conclusion = "Conclusion: " + "; ".join(parts) + "."
    print("\n".join(lines))
    print(conclusion)
    if args.write_docs:
        from _docs import DOC, write_section
        from peers import machine

        if "<!-- kernel-tech:begin -->" not in (DOC.read_text() if DOC.exists() else ""):
            print(f"note: no kernel-tech markers in {DOC}: appending a new section at its end", file=sys.stderr)
        write_section("kernel-tech", "\n".join([
            f"Machine: {machine()}; 2 threads. Command: `python benchmarks/kernel_tech.py --write-docs`. One LIF "
            f"layer [T={T}, B={B}, N={N}] float32, soft reset, Cauchy surrogate, no parameter gradients; "
            f"{args.reps} timed calls in {args.rounds} interleaved rounds; freed memory kept (mallopt); checked "
            "against pure torch first.", "",
            *lines, "", conclusion]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
