"""``spikeforge import FILE``: read a NIR graph, print its summary and the spikeforge model built from it."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from spikeforge._io import check_output_file


def _shape(t) -> str:
    if t is None:
        return "?"
    values = list(t.values()) if isinstance(t, dict) else [t]
    out = []
    for v in values:
        out.append("?" if v is None else "(" + ", ".join(str(int(d)) for d in np.asarray(v).reshape(-1)) + ")")
    return ", ".join(out)


def summarize(graph, indent: str = "") -> str:
    """A readable listing of a NIR graph: metadata, nodes (type, input -> output shape), edges."""
    import nir

    lines = []
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if meta and not indent:
        lines.append("metadata: " + ", ".join(f"{k}={_meta(v)}" for k, v in sorted(meta.items())))
    lines.append(f"{indent}nodes ({len(graph.nodes)}):")
    for key, node in graph.nodes.items():
        kind = type(node).__name__
        lines.append(f"{indent}  {key}: {kind} {_shape(node.input_type)} -> {_shape(node.output_type)}")
        if isinstance(node, nir.NIRGraph):
            lines.append(summarize(node, indent + "    "))
    lines.append(f"{indent}edges: " + ", ".join(f"{a}->{b}" for a, b in graph.edges))
    return "\n".join(lines)


def _meta(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _meta(v[()])
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "import", help="read a NIR graph and show the spikeforge model built from it",
        description="Read a .nir file, print the graph's summary and the spikeforge model it maps to "
                    "(docs/nir.md).",
    )
    p.add_argument("file", metavar="FILE", help="the .nir file")
    p.add_argument("--dt", type=float, default=None,
                   help="time step, for graphs without metadata['dt'] (snnTorch's use 1e-4)")
    p.add_argument("--discretization", choices=("exact", "euler"), default=None,
                   help="default: the graph's spikeforge metadata, else euler")
    p.add_argument("--save", metavar="FILE", default=None, help="also torch.save the model to FILE (.pt)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from spikeforge.cli.export import as_typed
    from spikeforge.interop import from_nir, read_nir

    try:
        if args.save is not None:
            _check_save(args.save)
        graph = read_nir(args.file)
        summary = summarize(graph)
        model = from_nir(graph, dt=args.dt, discretization=args.discretization)
    except (FileNotFoundError, IsADirectoryError, ValueError, TypeError) as e:
        print(f"spikeforge import: error: {as_typed(str(e), _TYPED)}", file=sys.stderr)
        return 2
    print(f"NIR graph {args.file}")
    print(summary)
    print("spikeforge model:")
    print(model)
    if args.save:
        import torch

        from spikeforge._io import atomic_path

        with atomic_path(args.save, make_parents=False) as tmp:
            torch.save(model, tmp)
        print(f"saved {args.save}")
    return 0


# the Python argument names that begin error messages -> what the user typed on the command line
_TYPED = {"path": "FILE", "graph_or_path": "FILE", "dt": "--dt", "discretization": "--discretization"}


def _check_save(save: str) -> None:
    check_output_file(save, "--save", "the model (.pt)")
