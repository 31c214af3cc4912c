"""Where the alliance pages' charts put things: pure geometry, from numbers to SVG
coordinates. The templates only draw what is decided here, so each rule (how dark a
cell, which dates get a label, how long a bar) is tested without a page or a database.

Every chart prints its numbers (readable without hovering, on a phone too); a hover
title only adds detail. Charts keep their natural size — text never shrinks below
what it was drawn at — and a chart wider than the screen scrolls inside its own box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FONT = 12  # px, the names' size
SMALL_FONT = 10  # px, the numbers and dates over time (a month of days side by side)
CHAR = 0.6  # a character's width in a sans-serif font, as a share of its size (estimate)

# The heat map's shades run from the page's background to its accent colour.
LIGHT = (0xEE, 0xF5, 0xF0)
DARK = (0x2F, 0x6F, 0x4F)
EMPTY_FILL = "#f6f5f2"  # a zero: the page's background
INK, MUTED, ON_DARK = "#1f2328", "#5f6670", "#ffffff"


UNITS = (("", 1), ("k", 1_000), ("M", 1_000_000), ("B", 1_000_000_000))


def compact(n: int) -> str:
    """A number short enough for a cell: 950, 1.2k, 12k, 3.4M (the exact one is in the
    hover title and the table)."""
    if n < 0:
        return "-" + compact(-n)
    for unit, size in UNITS:
        if size == 1:
            text = str(n)
        else:
            value = n / size
            text = f"{value:.1f}".removesuffix(".0") if value < 9.95 else f"{value:.0f}"
        # 999,999 is "1M", not "1000k": a unit that rounds up to 1000 gives way to the next.
        if float(text) < 1000 or unit == UNITS[-1][0]:
            return text + unit
    raise AssertionError("unreachable")  # pragma: no cover


def short(text: str, limit: int = 14) -> str:
    """A name cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def text_width(text: str, size: float = FONT) -> float:
    """Roughly how wide `text` is drawn at `size` px."""
    return len(text) * size * CHAR


def shade(share: float) -> tuple[str, str]:
    """The fill and the ink of a cell holding `share` (0 to 1) of the largest value: a zero
    is the background; anything else at least a visible tint, the ink white on dark."""
    if share <= 0:
        return EMPTY_FILL, MUTED
    t = 0.15 + 0.85 * min(share, 1.0)
    rgb = (round(lo + (hi - lo) * t) for lo, hi in zip(LIGHT, DARK, strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb), ON_DARK if t > 0.5 else INK


# The heat map ------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """What one cell holds: a count (None: no such pair, a member and themself), a
    hover title, and an optional second line (e.g. "+2 dry")."""

    value: int | None
    title: str = ""
    note: str = ""


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str  # as drawn (cut short)
    title: str  # in full


@dataclass(frozen=True)
class Cell:
    x: float
    y: float
    width: float
    height: float
    text: str  # the number as printed ("—" for no pair)
    note: str
    fill: str
    ink: str
    title: str

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class HeatMap:
    width: float
    height: float
    rows: list[Label]  # at the left, anchored at their end
    columns: list[Label]  # at the top, turned 45° up from their start
    cells: list[Cell]
    angle: int = -45


CELL_W, CELL_H = 48, 38
LABEL_CHARS = 14
GAP = 8


def heatmap(labels: Sequence[str], entries: Sequence[Sequence[Entry]]) -> HeatMap:
    """A square matrix: `labels` name both the rows (top to bottom) and the columns
    (left to right); `entries[row][column]` fills each cell, shaded by its share of the
    largest value."""
    n = len(labels)
    if any(len(row) != n for row in entries) or len(entries) != n:
        raise ValueError(f"a heat map of {n} labels needs {n} rows of {n} entries")
    names = [short(label, LABEL_CHARS) for label in labels]
    left = max((text_width(name) for name in names), default=0) + GAP
    # A column's label rises at 45° from the middle of its cell: as high as it is long.
    rise = max((text_width(name) for name in names), default=0) * math.sqrt(0.5)
    top = rise + GAP * 2
    top_value = max((e.value or 0 for row in entries for e in row), default=0)
    cells = []
    for i, row in enumerate(entries):
        for j, entry in enumerate(row):
            x, y = left + j * CELL_W, top + i * CELL_H
            if entry.value is None:
                fill, ink, text = EMPTY_FILL, MUTED, "—"
            else:
                fill, ink = shade(entry.value / top_value if top_value else 0)
                text = compact(entry.value)
            cells.append(
                Cell(x, y, CELL_W - 2, CELL_H - 2, text, entry.note, fill, ink, entry.title)
            )
    rows = [
        Label(left - GAP, top + i * CELL_H + CELL_H / 2, name, label)
        for i, (name, label) in enumerate(zip(names, labels, strict=True))
    ]
    columns = [
        Label(left + j * CELL_W + CELL_W / 2 - 1, top - GAP, name, label)
        for j, (name, label) in enumerate(zip(names, labels, strict=True))
    ]
    # The last column's label leans out to the right of the grid.
    overhang = text_width(names[-1]) * math.sqrt(0.5) - CELL_W / 2 if names else 0
    width = left + n * CELL_W + max(0.0, overhang) + GAP
    return HeatMap(
        width=round(width, 1),
        height=round(top + n * CELL_H + GAP, 1),
        rows=rows,
        columns=columns,
        cells=cells,
    )


# Bars ---------------------------------------------------------------------------------


def bar_lengths(values: Sequence[int], *, full: float = 100.0) -> list[float]:
    """Each value's bar, the largest `full` long; a non-zero value gets at least a
    sliver, so "1" never looks like "0"."""
    top = max(values, default=0)
    if top <= 0:
        return [0.0 for _ in values]
    return [0.0 if v <= 0 else round(max(full * v / top, full / 100), 2) for v in values]


# Columns over time -------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    x: float
    y: float  # the top of the bar
    width: float
    height: float
    value: int
    text: str  # the value as printed above the bar ("" for a zero)
    label: str  # the date under the bar ("" where it would crowd its neighbour)
    title: str


@dataclass(frozen=True)
class ColumnChart:
    width: float
    height: float
    baseline: float  # the y of the axis
    label_y: float
    columns: list[Column]
    font: int = SMALL_FONT  # the values' and the dates' size


COLUMN_W = 24  # a month of days fits a desktop page; "1.2k" fits above a column
WIDE_COLUMN_W = 48
FEW_COLUMNS = 14
PLOT_H = 110


def columns(points: Sequence[tuple[str, int, str]], *, plot_height: float = PLOT_H) -> ColumnChart:
    """One column per (label, value, title), oldest left; the value printed above each
    column that has one, and as many labels under them as fit side by side."""
    widest = max((text_width(label, SMALL_FONT) for label, _, _ in points), default=0)
    # Few points (weeks, months) get room for every date; a month of days, half of them.
    column_w = COLUMN_W if len(points) > FEW_COLUMNS else WIDE_COLUMN_W
    every = max(1, math.ceil((widest + 4) / column_w))
    top = SMALL_FONT + 8  # room for the tallest column's number
    baseline = top + plot_height
    lengths = bar_lengths([value for _, value, _ in points], full=plot_height)
    found = []
    for i, ((label, value, title), length) in enumerate(zip(points, lengths, strict=True)):
        # Labels count back from the newest point, so the latest always has its date.
        labelled = (len(points) - 1 - i) % every == 0
        found.append(
            Column(
                x=GAP + i * column_w,
                y=round(baseline - length, 2),
                width=column_w - 4,
                height=length,
                value=value,
                text=compact(value) if value else "",
                label=label if labelled else "",
                title=title,
            )
        )
    width = GAP * 2 + len(points) * column_w + widest / 2
    return ColumnChart(
        width=round(width, 1),
        height=round(baseline + SMALL_FONT + 10, 1),
        baseline=baseline,
        label_y=baseline + SMALL_FONT + 5,
        columns=found,
    )
