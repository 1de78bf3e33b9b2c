"""Charts of a comparison of variants: allocation side by side, where the money moved
(waterfall per variant), KPI changes. Same conventions as `charts`: conclusion titles, one
colour per stage everywhere, figures returned, nothing solved."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from ..analysis.compare import Comparison
from .charts import BASELINE, _fmt_objective, _money_axis, money, plt, stage_colours

__all__ = ["variant_allocation", "waterfall", "kpi_changes", "comparison_charts"]

# Paul Tol's bright palette: one colour per variant, the base in grey
VARIANT_PALETTE = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377"]
UP, DOWN = "#0072B2", "#D55E00"  # money in / out (blue / vermillion: colour-blind safe)


def variant_colours(labels: list[str]) -> dict[str, str]:
    return {lab: BASELINE if i == 0 else VARIANT_PALETTE[(i - 1) % len(VARIANT_PALETTE)]
            for i, lab in enumerate(labels)}


def _best_title(cmp: Comparison, what: str) -> str:
    name, values = cmp.objective()
    goal = cmp.plans[0].problem.goal
    minimise = cmp.plans[0].problem.minimize_spend
    k = int(np.argmin(values) if minimise else np.argmax(values))
    if k == 0:
        return f"{what}: no variant beats the base plan on {name}"
    delta = values[k] - values[0]
    return (f"{what}: '{cmp.labels[k]}' does best, "
            f"{'+' if delta >= 0 else '-'}{_fmt_objective(abs(delta), goal, cmp.currency)} "
            f"{name.split(' (')[0]} against the base")


def variant_allocation(cmp: Comparison) -> Figure:
    """One stacked bar per variant, split by stage, with its objective at the end."""
    spend = cmp.spend("stage")
    labels, cur = cmp.labels, cmp.currency
    colours = stage_colours(list(spend.index))
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.62 * len(labels)), constrained_layout=True)
    ys = np.arange(len(labels))[::-1]
    left = np.zeros(len(labels))
    totals = spend.sum(axis=0).to_numpy(dtype=float)
    for stage, row in spend.iterrows():
        values = row.to_numpy(dtype=float)
        ax.barh(ys, values, left=left, height=0.62, color=colours[stage], label=stage)
        for y, x0, v, tot in zip(ys, left, values, totals, strict=True):
            if tot > 0 and v / tot >= 0.07:  # label only segments wide enough to hold it
                ax.text(x0 + v / 2, y, f"{v / tot:.0%}", ha="center", va="center",
                        fontsize=8, color="white" if stage != "consideration" else "black")
        left += values
    name, obj = cmp.objective()
    goal = cmp.plans[0].problem.goal
    top = float(left.max()) if len(left) else 1.0
    for y, tot, o in zip(ys, totals, obj, strict=True):
        ax.text(tot + top * 0.01, y, f"{money(tot, cur)} · {name.split(' (')[0]} "
                f"{_fmt_objective(o, goal, cur)}", va="center", fontsize=8)
    ax.set_yticks(ys, labels)
    ax.set_xlim(0, top * 1.3)
    _money_axis(ax, cur)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(spend.index),
              frameon=False, fontsize=8)
    fig.suptitle(_best_title(cmp, "Allocation by variant"), fontweight="bold", fontsize=12,
                 x=0.01, ha="left")
    return fig


def waterfall(cmp: Comparison, by: str = "stage") -> Figure:
    """For each variant: base spend, each stage's (or platform's) change, the variant's."""
    spend = cmp.spend(by)
    labels, cur = cmp.labels, cmp.currency
    others = labels[1:]
    n = max(len(others), 1)
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 3.4 * rows),
                             constrained_layout=True, squeeze=False)
    biggest = ("", 0.0, "")
    for ax, label in zip(axes.flat, others, strict=False):
        base, var = spend[labels[0]].to_numpy(float), spend[label].to_numpy(float)
        change = var - base
        names = ["base", *spend.index, label]
        level = base.sum()
        ax.bar(0, level, color=BASELINE, width=0.6)
        for k, d in enumerate(change, start=1):
            ax.bar(k, d, bottom=level, color=UP if d >= 0 else DOWN, width=0.6)
            if abs(d) >= 0.5:
                ax.text(k, level + max(d, 0), f"{'+' if d >= 0 else '-'}{money(abs(d))}",
                        ha="center", va="bottom", fontsize=7)
            level += d
        ax.bar(len(names) - 1, var.sum(), color=variant_colours(labels)[label], width=0.6)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        lo = min(base.sum(), var.sum(), *(base.sum() + np.cumsum(change)))
        hi = max(base.sum(), var.sum(), *(base.sum() + np.cumsum(change)))
        pad = max(hi - lo, 0.02 * hi)
        floor = max(0.0, lo - 1.2 * pad)
        ax.set_ylim(floor, hi + 0.45 * pad)
        if floor > 0:  # a cut axis, said on the chart so that bars are not read as totals
            ax.set_title(f"axis starts at {money(floor, cur)}", loc="right", fontsize=8,
                         color="#666666", fontweight="normal")
        _money_axis(ax, cur, axis="y", ticks=4)
        ax.set_title(label, loc="left", fontsize=10)
        k = int(np.argmax(np.abs(change))) if len(change) else 0
        if len(change) and abs(change[k]) > abs(biggest[1]):
            biggest = (label, float(change[k]), spend.index[k])
    for ax in list(axes.flat)[len(others):]:
        ax.set_visible(False)
    if biggest[0]:
        verb = "into" if biggest[1] > 0 else "out of"
        title = (f"Where the money moves by {by}: the largest shift is "
                 f"{money(abs(biggest[1]), cur)} {verb} {biggest[2]} in '{biggest[0]}'")
    else:
        title = f"Where the money moves: no variant changes the {by} split"
    fig.suptitle(title, fontweight="bold", fontsize=12, x=0.01, ha="left")
    return fig


def kpi_changes(cmp: Comparison) -> Figure:
    """Change of each stage's KPI, revenue and the objective against the base, in per cent."""
    t = cmp.table
    labels = cmp.labels
    kpis = t[(t["section"] == "stage") & (t["unit"] == "")]
    totals = t[(t["section"] == "total") & t["metric"].isin(
        [cmp.objective()[0], "revenue"])]
    rows = pd.concat([totals, kpis])
    rows = rows[rows[labels[0]].abs() > 0]
    names = rows["metric"].tolist()
    others = labels[1:]
    colours = variant_colours(labels)
    fig, ax = plt.subplots(figsize=(11, 1.6 + 0.2 * len(names) * max(len(others), 1)),
                           constrained_layout=True)
    h = 0.8 / max(len(others), 1)
    ys = np.arange(len(names))[::-1]
    base = rows[labels[0]].to_numpy(float)
    span = 0.0
    for j, label in enumerate(others):
        rel = (rows[label].to_numpy(float) - base) / np.abs(base)
        span = max(span, float(np.nanmax(np.abs(rel))) if len(rel) else 0.0)
        pos = ys + 0.4 - h * (j + 0.5)
        ax.barh(pos, rel, height=h * 0.92, color=colours[label], label=label)
        for y, r in zip(pos, rel, strict=True):
            if np.isfinite(r) and abs(r) >= 0.0005:
                ax.text(r, y, f" {r:+.1%} " if r >= 0 else f" {r:+.1%} ", va="center",
                        ha="left" if r >= 0 else "right", fontsize=7)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(ys, names)
    span = max(span, 0.01)
    ax.set_xlim(-span * 1.35, span * 1.35)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("change against the base plan")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(others), 5),
              frameon=False, fontsize=8)
    fig.suptitle(_best_title(cmp, "KPIs by variant"), fontweight="bold", fontsize=12,
                 x=0.01, ha="left")
    return fig


def comparison_charts(cmp: Comparison) -> dict[str, Figure]:
    figs = {"allocation_by_variant": variant_allocation(cmp)}
    if len(cmp.labels) > 1:
        figs["waterfall_stage"] = waterfall(cmp, "stage")
        figs["waterfall_platform"] = waterfall(cmp, "platform")
        figs["kpi_changes"] = kpi_changes(cmp)
    return figs
