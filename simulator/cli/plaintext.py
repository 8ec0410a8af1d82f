"""The text rich prints for archsim's report tables and lines, without rich's renderer.

Rendering a rich ``Table`` costs about 3 ms a row (half a second for ResNet-50's 177 layers),
and the console itself tens of milliseconds of imports. When the output is not a terminal
(``Console(width=WIDTH)``, no colour, UTF-8) and the table is plain (the box, padding and
options :func:`simulator.report.table.layer_table` uses; cells of printable ASCII without markup
or emoji codes; nothing to wrap), rich's output is a simple function of the cells, written here.
Anything else returns None and the caller prints through rich; tests/test_plaintext.py checks the
two agree byte for byte.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
from typing import Any

#: rich's markup tag and emoji code patterns (rich.markup.RE_TAGS, rich._emoji_replace): a
#: string that may hold either is left to rich
_SPECIAL = re.compile(r"\[|:\S*?:")
_PRINTABLE = re.compile(r"[ -~]*")


def plain_console(stream: Any = None) -> bool:
    """The console rich would open on ``stream`` (default stdout) writes no escape codes and
    draws boxes in UTF-8: not a terminal, no FORCE_COLOR/TTY_COMPATIBLE, not Jupyter."""
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return encoding == "utf8" and not any(
        k in os.environ for k in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")) and \
        not hasattr(builtins, "get_ipython")


def _plain(text: Any) -> bool:
    return isinstance(text, str) and _PRINTABLE.fullmatch(text) is not None and \
        _SPECIAL.search(text) is None


_WORD = re.compile(r"\s*\S+\s*")
_TRAILING = re.compile(r"\s+$")


def line(text: str, width: int) -> str | None:
    """``console.print(text, highlight=False)``'s output (wrapped at spaces as rich wraps:
    rich.text.Text.wrap with rich._wrap.divide_line), or None (markup, a word longer than a
    line...)."""
    if not _plain(text):
        return None
    breaks, offset = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if length > width:
            return None   # rich folds it: not done here
        if width - offset >= length:
            offset += len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    out = []
    for begin, end in zip([0, *breaks], [*breaks, len(text)], strict=True):
        piece = text[begin:end]
        if len(piece) > width:   # Text.rstrip_end: trailing spaces past the width go
            trailing = _TRAILING.search(piece)
            if trailing is not None:
                piece = piece[:len(piece) - min(len(trailing.group(0)), len(piece) - width)]
        out.append(piece + "\n")
    return "".join(out)


def table(tbl: Any, width: int) -> str | None:
    """``console.print(tbl)``'s output for a plain rich Table or a report table
    (:class:`simulator.report.table.Table`: rich's defaults by construction), or None."""
    if hasattr(tbl, "__rich__"):   # a report table: no rich options to check
        title, end_section = tbl.title, tbl.end_section
        columns = [(c.header, c.justify, c.cells) for c in tbl.columns]
    else:
        from rich import box

        if not (tbl.box is box.HEAVY_HEAD and tbl._padding == (0, 1, 0, 1) and tbl.pad_edge and
                not tbl._expand and tbl.show_header and not tbl.show_footer and tbl.show_edge
                and not tbl.show_lines and tbl.leading == 0 and not tbl.collapse_padding and
                tbl.width is None and tbl.min_width is None and tbl.caption is None and
                tbl.title_justify == "left" and not tbl.row_styles and
                not any(row.style for row in tbl.rows)):
            return None
        if any(c.width is not None or c.min_width is not None or c.max_width is not None or
               c.ratio is not None for c in tbl.columns):
            return None
        title, end_section = tbl.title, [row.end_section for row in tbl.rows]
        columns = [(c.header, c.justify, c._cells) for c in tbl.columns]
    title = title or ""
    if not columns or not end_section or not _plain(title) or any(
            justify not in ("left", "right") or not _plain(header) or
            not all(_plain(cell) for cell in cells) for header, justify, cells in columns):
        return None
    widths = [max(len(header), *(len(cell) for cell in cells)) + 2
              for header, _, cells in columns]
    total = sum(widths) + len(widths) + 1
    if total > width or len(title) > total:
        return None

    def rule(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * w for w in widths) + right + "\n"

    def cells(values: list[str], edge: str) -> str:
        parts = [f" {v.ljust(w - 2) if c[1] == 'left' else v.rjust(w - 2)} "
                 for v, w, c in zip(values, widths, columns, strict=True)]
        return edge + edge.join(parts) + edge + "\n"

    out = [title.ljust(total) + "\n"] if title else []
    out.append(rule("┏", "━", "┳", "┓"))
    out.append(cells([c[0] for c in columns], "┃"))
    out.append(rule("┡", "━", "╇", "┩"))
    rows = len(end_section)
    for i, end in enumerate(end_section):
        out.append(cells([c[2][i] for c in columns], "│"))
        if end and i < rows - 1:
            out.append(rule("├", "─", "┼", "┤"))
    out.append(rule("└", "─", "┴", "┘"))
    return "".join(out)
