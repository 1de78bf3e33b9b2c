"""One chart per fitted line: what the data says and what the curve makes of it."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..outputs.charts import _money_axis, count, money, plt, stage_colours
from .fitting import Fit
from .mapping import KPI_WORDS

__all__ = ["fit_chart"]


def fit_chart(f: Fit) -> Figure:
    """Observed periods, the fitted curve with its 95 % band, the spend range the data
    covers (shaded) and the unit cost the curve implies (right axis)."""
    s = f.series
    cur = s.currency or ""
    unit = "day" if len(s.dates) < 2 or (s.dates[1] - s.dates[0]) < np.timedelta64(2, "D") \
        else "week"
    colour = stage_colours([s.stage])[s.stage]
    fig, ax = plt.subplots(figsize=(8.5, 4.6), constrained_layout=True)
    top = min(f.grid[-1], 1.6 * f.spend_peak)
    grid = f.grid[f.grid <= top]
    ax.axvspan(f.spend_min, f.spend_max, color="#EEEEEE", zorder=0,
               label="spend the data covers (5-95 %)")
    ax.fill_between(grid, f.band_lo[: len(grid)], f.band_hi[: len(grid)], color=colour,
                    alpha=0.22, linewidth=0, label="95 % band (bootstrap)")
    ax.scatter(s.spend, s.outcome, s=9, color="#555555", alpha=0.55, linewidths=0,
               label=f"observed {unit}s")
    ax.plot(grid, f.curve.value(grid), color=colour, linewidth=2.2,
            label=f"fitted {f.family} (R² {f.r2:.2f}, MAPE {f.mape:.0%})")
    _money_axis(ax, cur, ticks=6)
    ax.set_xlabel(f"spend per {unit} ({cur})")
    kpi = KPI_WORDS[s.kpi]
    ax.set_ylabel(f"{kpi} per {unit}")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: count(v)))
    ax.set_xlim(0, top)
    ax.set_ylim(0, max(float(np.max(s.outcome)), float(np.max(f.band_hi[: len(grid)]))) * 1.08)

    per = 1000 if s.stage == "awareness" else 1
    right = ax.twinx()
    x = grid[grid > 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        uc = per * x / f.curve.value(x)
    right.plot(x, uc, color="#333333", linestyle=":", linewidth=1.4, label="unit cost implied")
    label = {1000: "CPM"}.get(per, "cost per " + kpi.rstrip("s"))
    right.set_ylabel(f"{label} implied ({cur})")
    finite = uc[np.isfinite(uc)]
    if len(finite):
        right.set_ylim(0, float(np.percentile(finite, 95)) * 1.3)
    right.spines["right"].set_visible(True)
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="lower right", frameon=True,
              framealpha=0.9, edgecolor="none", fontsize=8)
    mid = 0.5 * (f.spend_min + f.spend_max)
    uc_mid = per * mid / float(f.curve.value(mid))
    uc_top = per * f.spend_peak / float(f.curve.value(f.spend_peak))
    verdict = "" if f.identified else " - saturation NOT identified by the data"
    fig.suptitle(f"{s.name}: {label} {money(uc_mid, cur, 2)} at {money(mid, cur)}/{unit}, "
                 f"{money(uc_top, cur, 2)} at the peak of {money(f.spend_peak, cur)}/{unit}"
                 f"{verdict}", fontweight="bold", fontsize=11, x=0.01, ha="left")
    return fig
