"""Charts drawn on the server as SVG (no chart library to ship, nothing to run in the
browser): a horizontal bar per row, its value written beside it. Every text is escaped."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from markupsafe import escape

BAR_HEIGHT, GAP, LABEL_WIDTH, WIDTH = 18, 6, 90, 560


def _number(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def bars(rows: list[dict[str, Any]], key: str, label: str = "unit_code", title: str = "") -> str:
    """An SVG of one bar per row for ``rows[i][key]`` (negative values drawn from zero to the
    left is not needed here: a score below zero is drawn as zero, its value still written)."""
    values = [_number(row.get(key)) for row in rows]
    top = max([v for v in values if v > 0], default=Decimal(1))
    height = len(rows) * (BAR_HEIGHT + GAP) + GAP
    span = WIDTH - LABEL_WIDTH - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}"><title>{escape(title or key)}</title>'
    ]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        y = GAP + i * (BAR_HEIGHT + GAP)
        length = int(span * max(value, Decimal(0)) / top)
        parts.append(
            f'<text class="chart-label" x="{LABEL_WIDTH - 6}" y="{y + 13}" text-anchor="end">'
            f"{escape(row.get(label, ''))}</text>"
            f'<rect class="chart-bar" x="{LABEL_WIDTH}" y="{y}" width="{length}" '
            f'height="{BAR_HEIGHT}"></rect>'
            f'<text class="chart-label" x="{LABEL_WIDTH + length + 6}" y="{y + 13}">'
            f"{escape(str(row.get(key, '')))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
