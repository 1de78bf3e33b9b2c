"""One chart per fitted line: what the data says and what the curve makes of it."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..outputs.charts import _money_axis, count, money, plt, stage_colours
from .fitting import Fit
from .mapping import KPI_WORDS

__all__ = ["fit_chart"]


def _unit(f: Fit) -> str:
    d = np.diff(np.asarray(f.series.dates).astype("datetime64[D]").astype(np.int64))
    step = float(np.median(d)) if len(d) else 1.0
    return "day" if step < 2 else ("week" if step < 10 else "month")


def fit_chart(f: Fit) -> Figure:
    """Observed periods (adjusted for weekday and carryover), the fitted response to
    sustained spend with its 90 % band, the spend range the data covers (shaded), lift tests,
    the unit cost the curve implies (right axis), and the campaigns the line is made of."""
    from scipy.signal import lfilter

    s = f.series
    cur = s.currency or ""
    unit = _unit(f)
    colour = stage_colours([s.stage])[s.stage]
    fig, ax = plt.subplots(figsize=(9, 5.2), constrained_layout=True)
    top = min(f.grid[-1], 1.6 * f.spend_peak)
    keep = f.grid <= top
    grid = f.grid[keep]
    ax.axvspan(f.spend_min, f.spend_max, color="#EEEEEE", zorder=0,
               label="spend the data covers (5-95 %)")
    ax.fill_between(grid, f.band_lo[keep], f.band_hi[keep], color=colour, alpha=0.22,
                    linewidth=0, label="90 % band")
    x, y = s.spend.astype(float), s.outcome.astype(float)
    adjusted = []
    if f.carryover:  # the spend held steady that gives the same effective spend
        x = (1 - f.carryover) * lfilter([1.0], [1.0, -f.carryover], x)
        adjusted.append("carryover")
    if f.weekday is not None:
        dow = ((np.asarray(s.dates).astype("datetime64[D]").astype(np.int64) + 3) % 7)
        y = y / f.weekday[dow]
        adjusted.append("weekday")
    level = f.calibration[0]["factor"] if f.calibration else 1.0
    if level != 1.0:
        y = y * level
        adjusted.append("lift-test level")
    on = s.spend > 0
    ax.scatter(x[on], y[on], s=9, color="#555555", alpha=0.5, linewidths=0,
               label=f"observed {unit}s" + (f" (adjusted: {', '.join(adjusted)})"
                                           if adjusted else ""))
    ax.plot(grid, f.point[keep], color=colour, linewidth=2.2,
            label=f"fitted {f.family}" + (f" (+ {', '.join(f.rivals)} in the band)"
                                          if f.rivals else "") + f", R² {f.r2:.2f}")
    ratio = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
    for c in f.calibration:
        r = ratio[unit] / ratio[c["per"]]
        ax.errorbar([c["spend"] * r], [c["incremental"] * r],
                    yerr=[[(c["incremental"] - c["low"]) * r],
                          [(c["high"] - c["incremental"]) * r]],
                    fmt="D", color="#B22222", markersize=6, capsize=4, zorder=5,
                    label=f"lift test ({c['level']:.0%} interval)")
    _money_axis(ax, cur, ticks=6)
    ax.set_xlabel(f"spend per {unit}, held steady ({cur})" if f.carryover else
                  f"spend per {unit} ({cur})")
    kpi = KPI_WORDS[s.kpi]
    ax.set_ylabel(f"{kpi} per {unit}")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: count(v)))
    ax.set_xlim(0, top)
    ymax = max(float(np.percentile(y[on], 99.5)) if on.any() else 0.0,
               float(np.max(f.band_hi[keep])))
    ax.set_ylim(0, ymax * 1.08)

    per = 1000 if s.stage == "awareness" else 1
    right = ax.twinx()
    xs = grid[grid > 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        uc = per * xs / np.interp(xs, f.grid, f.point)
    right.plot(xs, uc, color="#333333", linestyle=":", linewidth=1.4, label="unit cost implied")
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
    # which campaigns make this line: a mis-mapped one shows here first
    rows = [f"{m['share']:>4.0%}  {m['campaign'][:46]}" + (
        f"  (0 {kpi}!)" if m["outcome"] <= 0 and m["spend"] > 0 else "")
        for m in s.members[:6]]
    if len(s.members) > 6:
        rows.append(f"      and {len(s.members) - 6} more")
    ax.text(0.01, 0.99, "campaigns (share of spend)\n" + "\n".join(rows),
            transform=ax.transAxes, va="top", ha="left", fontsize=7.5, family="monospace",
            color="#B22222" if s.flags else "#333333",
            bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"})
    mid = 0.5 * (f.spend_min + f.spend_max)
    value = f.response.value
    uc_mid = per * mid / float(value(mid))
    uc_top = per * f.spend_peak / float(value(f.spend_peak))
    verdict = "saturation identified" if f.identified else \
        "saturation NOT identified: plan within the shaded range or run a test"
    carry = (f"carryover {f.carryover:.2f}/{unit}" if f.carryover_identified
             else "no carryover identified")
    fig.suptitle(f"{s.name}: {label} {money(uc_mid, cur, 2)} at {money(mid, cur)}/{unit}, "
                 f"{money(uc_top, cur, 2)} at the peak of {money(f.spend_peak, cur)}/{unit}\n"
                 f"{verdict}; {carry}; band x{f.low:.2f}-{f.high:.2f} over the shaded range",
                 fontweight="bold", fontsize=10.5, x=0.01, ha="left")
    return fig
