"""The ``archsim`` command: argument parsing and presentation only; the work is in the library.

Each module of this package owns a family of subcommands: ``add_parsers(sub)`` registers its
parsers and returns their handlers. Importing them is cheap; a handler imports what it needs.
A user mistake (:class:`ArchsimError`) prints one or two lines and exits with status 2 (with
``-v``, its traceback too); a bug still shows its traceback. SIGTERM ends a command like Ctrl-C
does (exit status 143), so files being written are removed, not left half-written.
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
    _add_global_flags(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if len(modules) == 1:   # archsim CMD ...: -q/-v accepted after CMD too (not worth the
        add_parser = sub.add_parser   # start-up of copying them into every parser for --help)
        flags = argparse.ArgumentParser(add_help=False)
        _add_global_flags(flags, argparse.SUPPRESS)

        def with_globals(*a, **kw):
            return add_parser(*a, parents=[flags, *kw.pop("parents", [])], **kw)

        sub.add_parser = with_globals  # type: ignore[method-assign]
    commands: dict[str, Callable] = {}
    for name in modules:
        commands.update(importlib.import_module(f"simulator.cli.{name}").add_parsers(sub))
    return parser, commands


def _add_global_flags(p: argparse.ArgumentParser, default=False) -> None:
    p.add_argument("-q", "--quiet", action="store_true", default=default,
                   help="no progress bars or 'wrote ...' lines (errors and warnings only)")
    p.add_argument("-v", "--verbose", action="store_true", default=default,
                   help="more detail; a user error also shows its traceback")


#: commands that never multiply floating-point matrices (``run`` unless ``--functional``):
#: numpy's OpenBLAS need not start its threads for them
NO_BLAS_COMMANDS = ("run", "lower", "replay", "validate", "scalesim")
#: the variables OpenBLAS reads its thread count from (any one set: the user's choice stands)
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def _one_blas_thread(args: argparse.Namespace) -> None:
    """Ask numpy's OpenBLAS for one thread in commands that do no floating-point BLAS work
    (timing runs: integer tables and Python; no matmul on real numbers). Loading OpenBLAS
    otherwise starts a thread per core and sizes its buffers for them, about 70 ms of a small
    run's start-up on two cores. Set before numpy is first imported (it reads the variable
    once); a thread count the user set is left alone, and ``--functional`` keeps BLAS threads."""
    import os

    if args.command in NO_BLAS_COMMANDS and not getattr(args, "functional", False) and \
            "numpy" not in sys.modules and not any(v in os.environ for v in BLAS_THREAD_VARS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so ``finally``/``except BaseException`` blocks
    (the atomic writers' clean-up) run as they do for Ctrl-C."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith("-")), None)
    module = COMMANDS.get(first) if first else None
    parser, commands = build_parser((module,) if module else COMMAND_MODULES)
    args = parser.parse_args(argv)
    _one_blas_thread(args)
    import signal  # after parsing: --help need not pay for it

    from simulator.cli import common

    common.configure(quiet=args.quiet, verbose=args.verbose, argv=["archsim", *argv])
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:   # not the main thread: leave signals alone
        previous = None
    try:
        return commands[args.command](args)
    except ArchsimError as err:
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"archsim {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        return 0
    except Terminated:
        print("terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def entry() -> None:
    sys.exit(main())
