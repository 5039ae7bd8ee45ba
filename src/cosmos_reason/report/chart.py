"""The critic's ranking as an inline SVG bar chart: one bar per candidate, best first.

Scores are fractions (the critic's share of reviews without anomaly, or P(Yes)), so bars are
drawn on a fixed 0..1 axis; a candidate without a score gets a row that says so, no bar.
"""

from __future__ import annotations

from html import escape

LABEL_WIDTH = 260
BAR_WIDTH = 320
ROW = 24


def ranking_svg(ranking: list[tuple[str, float | None]], title: str) -> str:
    """`ranking`: (label, score) best first, as critic writes it."""
    height = 34 + ROW * len(ranking) + 20
    width = LABEL_WIDTH + BAR_WIDTH + 60
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for i, (label, score) in enumerate(ranking):
        y = 30 + i * ROW
        short = label if len(label) <= 38 else "…" + label[-37:]
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end" class="chart-label">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        if score is None:
            parts.append(f'<text x="{LABEL_WIDTH}" y="{y + 16}" class="chart-none">no score</text>')
            continue
        bar = max(1.0, BAR_WIDTH * min(max(score, 0.0), 1.0))
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{bar:.1f}" height="{ROW - 6}" '
            f'class="{"chart-best" if i == 0 else "chart-bar"}"/>'
        )
        parts.append(f'<text x="{LABEL_WIDTH + bar + 6:.1f}" y="{y + 16}" class="chart-value">{score:.3f}</text>')
    axis_y = 30 + ROW * len(ranking) + 4
    for tick in (0.0, 0.5, 1.0):
        x = LABEL_WIDTH + BAR_WIDTH * tick
        parts.append(f'<line x1="{x:.1f}" y1="28" x2="{x:.1f}" y2="{axis_y}" class="chart-axis"/>')
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" class="chart-tick">{tick:g}</text>')
    parts.append("</svg>")
    return "".join(parts)
