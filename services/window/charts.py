"""Charts drawn on the server as SVG (no chart library to ship, nothing to run in the
browser): a horizontal bar per row, its value written beside it. Every text is escaped.

A score can be below zero (slow or refused reviews take points off), so the bars grow from a
zero line: to the right for a value above it, to the left for one below."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from markupsafe import escape

BAR_HEIGHT, GAP, LABEL_WIDTH, WIDTH, VALUE_ROOM = 18, 6, 120, 600, 64


def number(value: Any) -> Decimal:
    """A figure as the API wrote it (decimals are strings); anything else counts as zero."""
    try:
        found = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return found if found.is_finite() else Decimal(0)


def _scale(values: list[Decimal]) -> tuple[int, Decimal]:
    """Where the zero line is drawn and how many pixels one unit of value takes."""
    low, high = min([*values, Decimal(0)]), max([*values, Decimal(0)])
    span = high - low or Decimal(1)
    room = WIDTH - LABEL_WIDTH - 2 * VALUE_ROOM
    zero = LABEL_WIDTH + VALUE_ROOM + int(room * -low / span)
    return zero, room / span


def bars(rows: list[dict[str, Any]], key: str, label: str = "unit_code", title: str = "") -> str:
    """An SVG of one bar per row for ``rows[i][key]``, named by ``rows[i][label]``."""
    values = [number(row.get(key)) for row in rows]
    zero, per_unit = _scale(values)
    height = len(rows) * (BAR_HEIGHT + GAP) + GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}"><title>{escape(title or key)}</title>',
        f'<line class="chart-axis" x1="{zero}" y1="0" x2="{zero}" y2="{height}"></line>',
    ]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        y = GAP + i * (BAR_HEIGHT + GAP)
        length = int(abs(value) * per_unit)
        left = zero - length if value < 0 else zero
        after = left - 4 if value < 0 else zero + length + 4
        anchor = "end" if value < 0 else "start"
        parts.append(
            f'<text class="chart-label" x="{LABEL_WIDTH - 6}" y="{y + 13}" text-anchor="end">'
            f"{escape(row.get(label, ''))}</text>"
            f'<rect class="chart-bar{" chart-bar-negative" if value < 0 else ""}" x="{left}" '
            f'y="{y}" width="{length}" height="{BAR_HEIGHT}"></rect>'
            f'<text class="chart-label" x="{after}" y="{y + 13}" text-anchor="{anchor}">'
            f"{escape(str(row.get(key, '')))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
