"""The alliance charts' geometry, without a page: numbers short enough to print, shades
that follow the values, a heat map whose cells and labels never collide, bars on one
scale, and columns over time whose dates never crowd each other."""

from __future__ import annotations

import itertools
import math

import pytest

from tribe.web import charts
from tribe.web.charts import Entry


@pytest.mark.parametrize(
    ("n", "printed"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (1234, "1.2k"),
        (9940, "9.9k"),
        (9960, "10k"),
        (12_345, "12k"),
        (999_499, "999k"),
        (999_500, "1M"),  # not "1000k"
        (3_400_000, "3.4M"),
        (2_500_000_000, "2.5B"),
        (-1234, "-1.2k"),
    ],
)
def test_numbers_are_printed_short(n: int, printed: str) -> None:
    assert charts.compact(n) == printed


def test_names_are_cut_with_an_ellipsis_only_when_too_long() -> None:
    assert charts.short("Bob") == "Bob"
    assert charts.short("Carol Wintergreen-Abernathy") == "Carol Winterg…"
    assert len(charts.short("Carol Wintergreen-Abernathy")) == 14


def test_shades_darken_with_the_value_and_the_ink_stays_readable() -> None:
    assert charts.shade(0) == (charts.EMPTY_FILL, charts.MUTED)
    assert charts.shade(1) == ("#2f6f4f", charts.ON_DARK)  # the page's accent
    light, ink = charts.shade(0.01)
    assert light != charts.EMPTY_FILL  # a 1 never looks like a 0
    assert ink == charts.INK  # dark ink on a light tint
    fills = [charts.shade(share)[0] for share in (0.1, 0.4, 0.7, 1.0)]
    darkness = [sum(int(f[i : i + 2], 16) for i in (1, 3, 5)) for f in fills]
    assert darkness == sorted(darkness, reverse=True)


def _matrix(n: int) -> list[list[Entry]]:
    return [[Entry(None if i == j else i * n + j) for j in range(n)] for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 5, 12])
def test_a_heat_map_has_one_cell_per_pair_on_a_grid_that_nothing_overlaps(n: int) -> None:
    labels = [f"Member number {i}" for i in range(n)]
    heat = charts.heatmap(labels, _matrix(n))

    assert len(heat.cells) == n * n
    assert [c.text for c in heat.cells[:: n + 1]] == ["—"] * n  # a member and themself
    for a, b in itertools.combinations(heat.cells, 2):
        apart_x = a.x + a.width <= b.x or b.x + b.width <= a.x
        apart_y = a.y + a.height <= b.y or b.y + b.height <= a.y
        assert apart_x or apart_y, (a, b)
    left = min(c.x for c in heat.cells)
    top = min(c.y for c in heat.cells)
    # Row names end left of the grid, column names rise above it; all inside the chart.
    assert all(label.x < left for label in heat.rows)
    assert all(label.y < top for label in heat.columns)
    assert all(label.x - charts.text_width(label.text) >= 0 for label in heat.rows)
    assert all(
        label.y - charts.text_width(label.text) * math.sqrt(0.5) >= 0 for label in heat.columns
    )
    last = heat.columns[-1]
    assert last.x + charts.text_width(last.text) * math.sqrt(0.5) <= heat.width
    assert max(c.x + c.width for c in heat.cells) <= heat.width
    assert max(c.y + c.height for c in heat.cells) <= heat.height
    assert [label.title for label in heat.rows] == labels  # full names on hover
    assert all(len(label.text) <= 14 for label in heat.rows + heat.columns)


def test_the_largest_value_is_the_darkest_cell_and_a_zero_is_blank() -> None:
    entries = [
        [Entry(None), Entry(0, "Alice shared Bob's posts: 0 sent")],
        [Entry(12, "Bob shared Alice's posts: 12 sent", note="+2 dry"), Entry(None)],
    ]
    heat = charts.heatmap(["Alice", "Bob"], entries)
    _, zero, twelve, _ = heat.cells
    assert (zero.text, zero.fill) == ("0", charts.EMPTY_FILL)
    assert (twelve.text, twelve.fill, twelve.ink) == ("12", "#2f6f4f", charts.ON_DARK)
    assert twelve.note == "+2 dry"
    assert twelve.title == "Bob shared Alice's posts: 12 sent"
    assert (twelve.cx, twelve.cy) == (twelve.x + twelve.width / 2, twelve.y + twelve.height / 2)


def test_a_heat_map_needs_a_square_of_entries() -> None:
    with pytest.raises(ValueError, match="2 rows of 2 entries"):
        charts.heatmap(["Alice", "Bob"], [[Entry(1), Entry(2)]])
    empty = charts.heatmap([], [])
    assert empty.cells == []


def test_bars_share_one_scale_and_a_one_is_never_a_zero() -> None:
    assert charts.bar_lengths([0, 1, 50, 200]) == [0.0, 1.0, 25.0, 100.0]
    assert charts.bar_lengths([1, 1000]) == [1.0, 100.0]  # a sliver, not nothing
    assert charts.bar_lengths([3, 3], full=10) == [10.0, 10.0]
    assert charts.bar_lengths([0, 0]) == [0.0, 0.0]
    assert charts.bar_lengths([]) == []


@pytest.mark.parametrize("count", [8, 13, 31])
def test_columns_over_time_print_values_and_dates_that_do_not_crowd(count: int) -> None:
    points = [(f"{i + 1} Nov", i % 4 * 500, f"{i + 1} Nov: {i % 4 * 500}") for i in range(count)]
    chart = charts.columns(points)

    assert len(chart.columns) == count
    xs = [c.x for c in chart.columns]
    assert xs == sorted(xs)
    for a, b in itertools.pairwise(chart.columns):
        assert a.x + a.width < b.x  # a gap between columns
    tallest = max(chart.columns, key=lambda c: c.value)
    assert tallest.y == chart.baseline - charts.PLOT_H
    assert all(c.y + c.height == pytest.approx(chart.baseline) for c in chart.columns)
    assert [c.text for c in chart.columns[:4]] == ["", "500", "1k", "1.5k"]  # zero: blank
    assert chart.columns[-1].label == points[-1][0]  # the newest always has its date
    labelled = [c for c in chart.columns if c.label]
    for a, b in itertools.pairwise(labelled):
        room = (b.x + b.width / 2) - (a.x + a.width / 2)
        assert room >= charts.text_width(a.label, chart.font), (a.label, b.label)
    assert chart.width >= chart.columns[-1].x + chart.columns[-1].width
    assert chart.label_y > chart.baseline
    assert chart.height > chart.label_y


def test_a_month_of_days_fits_the_width_of_a_desktop_page() -> None:
    points = [(f"{i + 1} Nov", 1, "") for i in range(31)]
    assert charts.columns(points).width <= 800  # the page's card, inside 54rem
