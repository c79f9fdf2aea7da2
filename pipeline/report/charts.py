"""Charts as inline SVG (matplotlib, Agg): the HTML page stays one self-contained file.

Text is drawn as paths (matplotlib's default `svg.fonttype`), so a chart looks the same in
every browser and carries no markup from the data; ids are salted for reproducible output.
"""

from __future__ import annotations

import io
import re
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.report.breakdowns import Breakdown  # noqa: E402

INK = "#1d2733"
MUTED = "#6b7785"
BAR = "#2f6f9f"
SUB_BAR = "#8db5d3"
ACCENT = "#d9822b"
GRID = "#e3e8ee"
# Significant differences in one neutral dark blue (direction by ▲/▼): higher is not "good".
HIGHER = "#1f3a68"
LOWER = "#1f3a68"

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.edgecolor": GRID,
    "axes.labelcolor": INK,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "svg.fonttype": "path",
    "svg.hashsalt": "yousaid",
    # Theme, group and stance names are the analyst's text: "$" is a dollar sign, never maths
    # (mathtext would draw "$x$ marks" as an italic x and fail outright on a single "$").
    "text.parse_math": False,
}


def _svg(fig, label: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    # Let the page size the chart: drop fixed pt sizes, keep the viewBox for the aspect ratio.
    head, rest = svg.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    from html import escape

    head += f' class="chart" role="img" aria-label="{escape(label)}"'
    # in a box that scrolls sideways on a phone, so the page itself never does
    return '<div class="chartbox">' + head + ">" + rest + "</div>"


def _wrap(name: str, width: int = 34) -> str:
    return "\n".join(textwrap.wrap(name, width, break_long_words=False)) or name


def theme_chart(themes: pd.DataFrame) -> str:
    """Horizontal bars of comments per theme, with the corrected estimate and its interval."""
    return _theme_chart(
        themes, lambda fig: _svg(fig, "Bar chart of comments per theme with 95% intervals")
    )


def theme_chart_png(themes: pd.DataFrame, dpi: int = 200) -> bytes:
    """The same chart as a PNG, for Word (which cannot be relied on to show SVG)."""

    def png(fig) -> bytes:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        return buf.getvalue()

    return _theme_chart(themes, png)


def _theme_chart(themes: pd.DataFrame, render):
    names = [
        ("↳ " if d else "") + _wrap(n, 32 if d else 36)
        for n, d in zip(themes["theme"], themes["depth"], strict=True)
    ]
    y = np.arange(len(themes))[::-1]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 0.48 * len(themes) + 1.1))
        colours = [SUB_BAR if d else BAR for d in themes["depth"]]
        ax.barh(
            y,
            themes["count"],
            color=colours,
            height=0.62,
            label="Comments coded to the theme",
            zorder=2,
        )
        # A very wide interval (a theme with few labels) must not squash every bar: clip the axis
        # and mark clipped whiskers with an arrow; the table gives the full interval.
        biggest = float(max(themes["count"].max(), themes["corrected"].max(), 1))
        top = min(float(themes["high"].max()), 1.5 * biggest)
        top = max(top, biggest)
        high = themes["high"].clip(upper=top)
        err = np.vstack([themes["corrected"] - themes["low"], high - themes["corrected"]])
        ax.errorbar(
            themes["corrected"],
            y,
            xerr=np.clip(err, 0, None),
            fmt="o",
            color=ACCENT,
            ms=4.5,
            elinewidth=1.6,
            capsize=3.5,
            label="Corrected estimate, 95% interval",
            zorder=3,
        )
        clipped = themes["high"] > top
        if clipped.any():
            ax.plot(
                np.full(int(clipped.sum()), top),
                y[clipped.to_numpy()],
                marker=">",
                ls="none",
                color=ACCENT,
                ms=6,
                zorder=3,
            )
        for yi, count, share, depth in zip(
            y, themes["count"], themes["share"], themes["depth"], strict=True
        ):
            label = f"{count}  ({share:.0%})"
            if count >= top * 0.14:  # inside the bar's start, clear of the whiskers
                ax.text(
                    top * 0.008,
                    yi,
                    label,
                    va="center",
                    ha="left",
                    fontsize=8.5,
                    color=INK if depth else "white",
                    fontweight="bold",
                    zorder=4,
                )
            else:
                ax.text(
                    count + top * 0.008,
                    yi - 0.05,
                    label,
                    va="top",
                    ha="left",
                    fontsize=8.5,
                    color=MUTED,
                    zorder=4,
                )
        ax.set_yticks(y, names)
        ax.set_xlim(0, top * 1.04)
        ax.set_xlabel("Comments (a comment can raise several themes)")
        ax.grid(axis="x", color=GRID, zorder=0)
        ax.spines[["top", "right", "left"]].set_visible(False)
        ax.tick_params(axis="y", length=0)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, frameon=False, fontsize=9)
        return render(fig)


def breakdown_chart(b: Breakdown, names: dict[str, str], order: list[str]) -> str:
    """Heat map of theme shares by group; arrows mark significant differences, grey = low base."""
    groups = b.groups
    share = b.share.loc[order, groups].to_numpy(dtype=float) * 100
    with plt.rc_context(STYLE):
        # Same width for every breakdown, so text comes out the same size on the page.
        fig, ax = plt.subplots(figsize=(9, 0.4 * len(order) + 1.2))
        vmax = max(float(np.nanmax(share)) if share.size else 1, 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=vmax * 1.25, aspect="auto")
        for j, g in enumerate(groups):
            low = b.flag[g].eq("low base").all()
            if low:
                ax.add_patch(
                    plt.Rectangle((j - 0.5, -0.5), 1, len(order), color="#f4f5f7", zorder=2)
                )
            for i, tid in enumerate(order):
                value = share[i, j]
                flag = b.flag.at[tid, g]
                mark = {"higher": " ▲", "lower": " ▼"}.get(flag, "")
                colour = {"higher": HIGHER, "lower": LOWER}.get(
                    flag, INK if value < vmax * 0.75 else "white"
                )
                if low:
                    colour = MUTED
                text = "–" if np.isnan(value) else f"{value:.0f}%{mark}"
                badge = (
                    dict(boxstyle="round,pad=0.25", fc="white", ec=colour, lw=0.8) if mark else None
                )
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=9.5,
                    color=colour,
                    zorder=3,
                    fontweight="bold" if mark else "normal",
                    bbox=badge,
                )
        labels = [
            f"{_wrap(g, 14)}\nn={b.base[g]}" + (" (low)" if b.base[g] < 30 else "") for g in groups
        ]
        ax.set_xticks(range(len(groups)), labels, fontsize=9.5)
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(order)), [_wrap(names[t], 40) for t in order], fontsize=9.5)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        return _svg(fig, f"Heat map of theme shares by {b.label}")


def stance_chart(table: pd.DataFrame, title: str) -> str:
    """One stacked bar: how the comments with a known stance split."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(9, 0.55))
        left = 0.0
        total = float(table["count"].sum()) or 1.0
        colours = [BAR, ACCENT, SUB_BAR, "#9c6ade", "#5aa469"]
        for k, (name, count) in enumerate(zip(table["stance"], table["count"], strict=True)):
            ax.barh(0, count, left=left, color=colours[k % len(colours)], height=1.0)
            if count:
                ax.text(
                    left + count / 2,
                    0,
                    f"{name}: {count} ({count / total:.0%})",
                    ha="center",
                    va="center",
                    color="white",
                    fontsize=8.5,
                    fontweight="bold",
                )
            left += count
        ax.set_xlim(0, total)
        ax.set_ylim(-0.5, 0.5)
        ax.axis("off")
        return _svg(fig, title)
