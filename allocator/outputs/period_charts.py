"""Charts of a plan over periods (from its Timeline): the phasing by stage, the effect over
time split by where it comes from, the cash flow against the period budgets, and the spend
and effective spend of the largest lines. Same conventions as charts.py."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ..plan import Plan
from .charts import _money_axis, money, plt, stage_colours

__all__ = ["period_charts"]

SOURCES = {"value_from_this_period": ("this period's spend", "#0072B2"),
           "value_from_earlier_periods": ("carryover from earlier periods", "#56B4E9"),
           "value_from_before_the_plan": ("carryover from before the plan", "#BBBBBB")}


def _ticks(ax, labels: list[str]) -> None:
    ax.set_xticks(range(len(labels)))
    step = max(1, math.ceil(len(labels) / 14))  # 52 weeks: every 4th label
    ax.set_xticklabels([lab if k % step == 0 else "" for k, lab in enumerate(labels)],
                       rotation=0 if len(labels) <= 8 else 45, ha="center" if len(labels) <= 8
                       else "right")


def phasing(plan: Plan) -> Figure:
    tl, cur = plan.timeline, plan.currency
    plan_rows = tl.long[tl.long["in_plan"]]
    labels = [t for t in tl.labels if t in set(plan_rows["period"])]
    by = plan_rows.pivot_table(index="period", columns="stage", values="spend",
                               aggfunc="sum").reindex(labels).fillna(0.0)
    stages = [s for s in plan.scenario.stages if s in by.columns]
    colours = stage_colours(list(plan.scenario.stages))
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = np.zeros(len(labels))
    for s in stages:
        ax.bar(range(len(labels)), by[s].to_numpy(), bottom=bottom, color=colours[s], label=s)
        bottom += by[s].to_numpy()
    _ticks(ax, labels)
    _money_axis(ax, cur, axis="y")
    top = float(bottom.max()) if len(labels) else 0.0
    at_top = [lab for lab, v in zip(labels, bottom, strict=True) if v >= top * (1 - 1e-6)]
    where = f"in {at_top[0]}" if len(at_top) == 1 else \
        f"in {len(at_top)} of {len(labels)} periods"
    ax.set_title(f"Spend is highest {where} ({money(top, cur)}); "
                 f"{money(float(bottom.sum()), cur)} over {len(labels)} periods")
    ax.legend(frameon=False, ncols=min(len(stages), 5), loc="upper center",
              bbox_to_anchor=(0.5, -0.14 if len(labels) <= 8 else -0.22))
    fig.tight_layout()
    return fig


def effect(plan: Plan) -> Figure:
    """Value per period split by the spend that earns it."""
    tl, cur = plan.timeline, plan.currency
    long = tl.long.copy()
    v = plan.problem.value_per_outcome
    long["value_from_this_period"] = long["outcome_from_this_period"] * v
    long["value_from_earlier_periods"] = long["outcome_from_earlier_periods"] * v
    long["value_from_before_the_plan"] = long["outcome_from_before_the_plan"] * v
    per = long.groupby("period", sort=False)[list(SOURCES)].sum().reindex(tl.labels)
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = np.zeros(len(per))
    for key, (label, colour) in SOURCES.items():
        vals = per[key].to_numpy()
        if np.any(vals > 0):
            ax.bar(range(len(per)), vals, bottom=bottom, color=colour, label=label)
            bottom += vals
    _ticks(ax, list(per.index))
    _money_axis(ax, cur, axis="y")
    ax.set_ylabel(f"value ({cur})")
    carried = float(per["value_from_earlier_periods"].sum()
                    + per["value_from_before_the_plan"].sum())
    total = float(per.to_numpy().sum())
    share = carried / total if total > 0 else 0.0
    after = [t for t in tl.labels if t not in plan.timeline.periods.loc[
        plan.timeline.periods["in_plan"], "period"].tolist()]
    ax.set_title(f"{share:.0%} of the value comes from carryover"
                 + (f"; {len(after)} period(s) after the plan still count" if after else ""))
    ax.legend(frameon=False, ncols=3, loc="upper center",
              bbox_to_anchor=(0.5, -0.14 if len(per) <= 8 else -0.22))
    fig.tight_layout()
    return fig


def cash_flow(plan: Plan) -> Figure:
    """Spend per period against its budget, and cumulative spend against the whole budget."""
    tl, cur = plan.timeline, plan.currency
    per = tl.periods[tl.periods["in_plan"]]
    x = np.arange(len(per))
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(x, per["spend"], color="#0072B2", label="spend")
    total = float(per["spend"].sum())
    hi = per["budget_max"].to_numpy(dtype=float)
    lo = per["budget_min"].to_numpy(dtype=float)
    share_hi = per["budget_share_max"].to_numpy(dtype=float) * total
    share_lo = per["budget_share_min"].to_numpy(dtype=float) * total
    caps = np.fmin(hi, share_hi)
    floors = np.fmax(lo, share_lo)
    exact = np.isfinite(caps) & np.isfinite(floors) & np.isclose(caps, floors)
    if exact.any():
        ax.scatter(x[exact], caps[exact], marker="_", s=900, linewidths=2.5, color="#000000",
                   label="period budget (exact)", zorder=3)
    if (np.isfinite(caps) & ~exact).any():
        ax.scatter(x[~exact], caps[~exact], marker="_", s=900, linewidths=2.5,
                   color="#D55E00", label="period budget (max)", zorder=3)
    if (np.isfinite(floors) & ~exact & (floors > 0)).any():
        ax.scatter(x[~exact], floors[~exact], marker="_", s=900, linewidths=2.5,
                   color="#009E73", label="period budget (min)", zorder=3)
    _ticks(ax, list(per["period"]))
    _money_axis(ax, cur, axis="y")
    ax.set_ylabel(f"spend ({cur})")
    at_cap = int(np.sum(np.isfinite(caps) & ~exact &
                        (per["spend"].to_numpy() >= caps * (1 - 1e-6))))
    if exact.all():
        title = f"Cash out per period: {money(total, cur)}, each period's budget as set"
    elif np.isfinite(caps).any():
        title = (f"Cash out per period: {at_cap} of {int(np.sum(~exact))} periods with a "
                 "ceiling spend all of it")
    else:
        title = f"Cash out per period: {money(total, cur)} in all, phased by the optimiser"
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper center", ncols=3,
              bbox_to_anchor=(0.5, -0.14 if len(per) <= 8 else -0.22))
    fig.tight_layout()
    return fig


def line_over_time(plan: Plan, top: int = 6) -> Figure:
    """Spend and effective spend of the largest lines, one panel each."""
    tl, cur = plan.timeline, plan.currency
    long = tl.long
    totals = long[long["in_plan"]].groupby("line", sort=False)["spend"].sum()
    names = list(totals.sort_values(ascending=False).index[:top])
    names = [n for n in names if totals[n] > 0] or names[:1]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False,
                             sharex=True)
    for ax, name in zip(axes.ravel(), names, strict=False):
        d = long[long["line"] == name].set_index("period").reindex(tl.labels)
        xs = np.arange(len(d))
        ax.bar(xs, d["spend"].fillna(0.0), color="#0072B2", label="spend")
        ax.plot(xs, d["effective_spend"].fillna(0.0), color="#D55E00", marker="o", ms=3,
                label="effective spend")
        ax.set_title(name, fontsize=9)
        _money_axis(ax, "", axis="y", ticks=4)
        _ticks(ax, tl.labels)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, loc="lower center", ncols=2)
    fig.suptitle(f"Spend and the effective spend that carries over ({cur}): the "
                 f"{len(names)} largest lines", fontweight="bold")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def response_curves(plan: Plan) -> Figure:
    """Per line, its curve in each period against the effective spend it sees, and where
    the plan puts each period on it (the response before any carryover after saturation)."""
    p, tl = plan.problem, plan.timeline
    lay = p.layout
    e = p.effective(plan.solution.x)
    r = p.responses(plan.solution.x)
    names = lay.lines
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 2.3 * rows + 0.8),
                             constrained_layout=True, squeeze=False)
    colours = stage_colours(list(plan.scenario.stages))
    T = lay.n_periods
    shade = np.linspace(0.35, 1.0, T)
    for k, ax in enumerate(axes.flat):
        if k >= len(names):
            ax.axis("off")
            continue
        idx = [lay.index(k, t) for t in range(T)]
        colour = colours[p.stages[idx[0]]]
        top = max(float(np.max(e[idx])) * 1.6, float(np.max(p.curve_hi[idx])) * 0.1, 1.0)
        xs = np.linspace(0, top, 150)
        for t, i in enumerate(idx):
            ax.plot(xs, p.curve(i).value(xs), color=colour, lw=1.2, alpha=float(shade[t]))
            ax.plot([e[i]], [r[i]], "o", color=colour, ms=5, alpha=float(shade[t]))
            if T <= 6:
                ax.annotate(tl.labels[t], (e[i], r[i]), fontsize=6, xytext=(3, -8),
                            textcoords="offset points")
        ax.set_title(names[k], fontsize=9, loc="left")
        _money_axis(ax, "", "x")
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: money(v)))
        ax.set_ylabel(tl.long["kpi"].iloc[idx[0]], fontsize=7)
    fig.suptitle(f"Response curves per period against the effective spend ({plan.currency}, "
                 "carryover included; later periods darker)", fontweight="bold", fontsize=11,
                 x=0.01, ha="left")
    return fig


def period_charts(plan: Plan) -> dict[str, Figure]:
    if plan.timeline is None:
        return {}
    return {"phasing": phasing(plan), "effect_over_time": effect(plan),
            "cash_flow": cash_flow(plan), "lines_over_time": line_over_time(plan)}
