"""The flags every plotting command shares: ``--dpi``, ``--title``, ``--size WxH``.

A command adds them with :func:`add_plot_flags` (one line per parser) and passes
``**plot_options(args)`` to its plot function, which takes ``dpi``, ``title`` and ``size``
(inches) keywords. Only the flags given are passed, so each figure keeps its own defaults.
"""

from __future__ import annotations

import argparse
from typing import Any

from simulator.errors import ArchsimError

#: matplotlib refuses images of 2^16 pixels or more on a side (Agg's limit)
MAX_PIXELS = 65535


class PlotOptionError(ArchsimError):
    """A ``--dpi`` / ``--size`` pair that cannot make an image."""


def _dpi(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of dots per inch, got "
                                         f"{text!r}") from None
    if not 10 <= value <= 2400:
        raise argparse.ArgumentTypeError(f"expected 10 to 2400 dots per inch, got {value}")
    return value


def parse_size(text: str) -> tuple[float, float]:
    """``"8x4.5"`` -> (8.0, 4.5): figure width and height in inches, each in (0, 200]."""
    w, sep, h = text.lower().replace(" ", "").partition("x")
    try:
        if not sep:
            raise ValueError
        size = (float(w), float(h))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in inches, e.g. 8x4.5, got "
                                         f"{text!r}") from None
    if not all(0 < v <= 200 for v in size):   # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"width and height must be more than 0 and at most "
                                         f"200 inches, got {text!r}")
    return size


def add_plot_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--dpi``, ``--title`` and ``--size`` to a command that writes a figure."""
    group = parser.add_argument_group("figure")
    group.add_argument("--dpi", type=_dpi, metavar="N",
                       help="resolution of the figure in dots per inch (default: the figure's)")
    group.add_argument("--title", metavar="TEXT", help="the figure's title (default: generated)")
    group.add_argument("--size", type=parse_size, metavar="WxH",
                       help="figure size in inches, e.g. 8x4.5 (the PNG is W*dpi x H*dpi "
                            "pixels)")


def plot_options(args: argparse.Namespace, default_dpi: int = 100,
                 default_size: tuple[float, float] | None = None) -> dict[str, Any]:
    """The keywords of the flags given (``dpi``, ``title``, ``size``) for a plot function.
    Refuses a size and dpi that make an image matplotlib cannot write (the defaults fill in
    what was not given, for that check only)."""
    options: dict[str, Any] = {}
    for key in ("dpi", "title", "size"):
        value = getattr(args, key, None)
        if value is not None:
            options[key] = value
    size = options.get("size", default_size)
    if size is not None:
        dpi = options.get("dpi", default_dpi)
        pixels = (round(size[0] * dpi), round(size[1] * dpi))
        if max(pixels) > MAX_PIXELS:
            raise PlotOptionError(f"a {size[0]:g}x{size[1]:g} inch figure at {dpi} dpi is "
                                  f"{pixels[0]}x{pixels[1]} pixels; at most {MAX_PIXELS} a "
                                  "side", where="--size/--dpi")
    return options
