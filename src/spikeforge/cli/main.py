"""Entry point of the ``spikeforge`` command.

Each verb lives in its own module of this package and exposes ``register(subparsers)``, which adds
its sub-parser and sets ``func`` (called with the parsed namespace, returns an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from spikeforge._version import __version__

# Explicit list: the order is the order of ``spikeforge --help``.
VERBS: tuple[str, ...] = ("train", "tune", "evaluate", "resume", "report", "hardware", "export", "import_", "codes")
_TRAINING_VERBS = ("train", "resume")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikeforge",
        description="Build, train, measure and deploy spiking neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"spikeforge {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        importlib.import_module(f"spikeforge.cli.{verb}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; Ctrl-C anywhere ends it with one line on stderr and exit status 130 (the verbs that
    write run folders say what they hold then)."""
    from spikeforge._interrupt import release

    verb = None
    try:
        words = sys.argv[1:] if argv is None else argv
        if any(w in _TRAINING_VERBS for w in words[:1]):
            # the optimiser imports torch._dynamo (and triton, where installed) on first use; a Ctrl-C raised
            # into that native initialisation aborts the process, so it happens while the start-up guard holds
            import torch._dynamo  # noqa: F401
        release()  # from here on Ctrl-C is a KeyboardInterrupt, handled below or by the verb
        parser = build_parser()
        args = parser.parse_args(argv)
        verb = args.verb
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 0 if args.verb is None else 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"spikeforge{'' if verb is None else ' ' + verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
