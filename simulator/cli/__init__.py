"""The ``archsim`` command: argument parsing and presentation only; the work is in the library.

Each module of this package owns a family of subcommands: ``add_parsers(sub)`` registers its
parsers and returns their handlers. Importing them is cheap; a handler imports what it needs.
A user mistake (:class:`ArchsimError`) prints one or two lines and exits with status 2; a bug
still shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

from simulator.errors import ArchsimError

EXIT_USER_ERROR = 2

#: command modules, in the order their commands appear in ``archsim --help``
COMMAND_MODULES = ("core", "im2col", "fusion", "scalesim", "quantize", "sweep", "gnn",
                   "federated", "transformer", "serving", "ops", "schema", "llm")


def _version() -> str:
    from simulator import __version__

    return f"archsim {__version__}"


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Callable]]:
    """The parser and the handler of each subcommand."""
    parser = argparse.ArgumentParser(
        prog="archsim", description="Cycle-level simulator for DNN accelerators.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, Callable] = {}
    for name in COMMAND_MODULES:
        commands.update(importlib.import_module(f"simulator.cli.{name}").add_parsers(sub))
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    try:
        return commands[args.command](args)
    except ArchsimError as err:
        print(f"archsim {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())
