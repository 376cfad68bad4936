"""A grouped bar chart as inline SVG, drawn on the server: no JS build, no chart library.

No Django here: labels are escaped with the standard library and the caller marks the
result safe. Values are shares (0 to 1); None (nothing to measure) draws no bar.
"""

from collections.abc import Sequence
from html import escape

COLOURS = ("#7a8599", "#3d5a99", "#c2852b", "#2b8a5e", "#a63d6b", "#5e4fa2", "#4f8fa6")
WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 16, 40  # margins: axis labels left, metric names below
LEGEND_ROW = 18


def bar_chart_svg(
    metrics: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]
) -> str:
    """One group of bars per metric, one bar per series (a run), values on a 0-1 axis."""
    legend_height = LEGEND_ROW * len(series)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group_w = plot_w / max(1, len(metrics))
    bar_w = group_w * 0.8 / max(1, len(series))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + legend_height}" role="img" '
        f'aria-label="{escape(", ".join(metrics))} by run" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        y = TOP + plot_h * (1 - tick)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ec"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick:g}</text>'
        )
    for m, metric in enumerate(metrics):
        x0 = LEFT + group_w * m + group_w * 0.1
        for s, (label, values) in enumerate(series):
            value = values[m] if m < len(values) else None
            if value is None:
                continue
            h = plot_h * max(0.0, min(1.0, value))
            x, y = x0 + bar_w * s, TOP + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w * 0.9:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(label)}: {escape(metric)} '
                f"{value:.3f}</title></rect>"
            )
        parts.append(
            f'<text x="{LEFT + group_w * (m + 0.5):.1f}" y="{TOP + plot_h + 18}" '
            f'text-anchor="middle" font-size="12">{escape(metric)}</text>'
        )
    for s, (label, _) in enumerate(series):
        y = HEIGHT + LEGEND_ROW * s
        parts.append(
            f'<rect x="{LEFT}" y="{y - 10}" width="12" height="12" '
            f'fill="{COLOURS[s % len(COLOURS)]}"/>'
            f'<text x="{LEFT + 18}" y="{y}" font-size="12">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
