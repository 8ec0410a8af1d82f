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
#: the module registering each subcommand, so that ``archsim CMD ...`` builds only CMD's parser
#: (building all of them costs tens of milliseconds of start-up); tests/test_startup.py checks
#: it against what the modules register
COMMANDS = {"run": "core", "validate": "core", "lower": "core", "replay": "core",
            "im2col": "im2col", "fusion": "fusion", "scalesim": "scalesim",
            "quantize": "quantize", "sweep": "sweep", "plot": "sweep", "gnn-report": "gnn",
            "federated": "federated", "attention": "transformer", "blockskim": "transformer",
            "blockskim-study": "transformer", "serve": "serving", "ops": "ops",
            "schema": "schema", "llm": "llm"}


def _version() -> str:
    from simulator import __version__

    return f"archsim {__version__}"


def build_parser(modules: tuple[str, ...] = COMMAND_MODULES
                 ) -> tuple[argparse.ArgumentParser, dict[str, Callable]]:
    """The parser and the handler of each subcommand (of the command ``modules`` given)."""
    parser = argparse.ArgumentParser(
        prog="archsim", description="Cycle-level simulator for DNN accelerators.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, Callable] = {}
    for name in modules:
        commands.update(importlib.import_module(f"simulator.cli.{name}").add_parsers(sub))
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    module = COMMANDS.get(argv[0]) if argv else None
    parser, commands = build_parser((module,) if module else COMMAND_MODULES)
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
