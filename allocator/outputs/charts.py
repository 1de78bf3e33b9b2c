"""Matplotlib figures from finished plans and analyses: charts never solve.

Every chart: a title that states the conclusion, currency and percentages formatted, one
colour per stage and per platform across all charts (colour-blind-safe palettes: Okabe-Ito
for stages, Paul Tol's muted for platforms), nothing overlapping at the default size.
Each function returns the Figure; `save` writes PNG and SVG.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    Formatter,
    FuncFormatter,
    MaxNLocator,
    PercentFormatter,
)

from ..analysis import Frontier, GuidelinePrice, Tornado, Uncertainty  # noqa: E402
from ..plan import Plan  # noqa: E402

__all__ = ["allocation", "funnel", "response_curves", "frontier", "guideline", "tornado",
           "uncertainty", "save", "all_charts", "stage_colours", "platform_colours"]

STAGE_COLOURS = {"awareness": "#0072B2", "consideration": "#56B4E9", "conversion": "#D55E00",
                 "loyalty": "#009E73", "advocacy": "#CC79A7"}
_SPARE_STAGE = ["#E69F00", "#F0E442", "#000000", "#999999"]
PLATFORM_PALETTE = ["#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77",
                    "#CC6677", "#882255", "#AA4499", "#555555"]
BASELINE = "#BBBBBB"

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "font.size": 9,
                     "axes.titlesize": 11, "axes.titleweight": "bold",
                     "axes.spines.top": False, "axes.spines.right": False,
                     "svg.fonttype": "none"})


def stage_colours(stages: list[str]) -> dict[str, str]:
    spare = iter(_SPARE_STAGE * 3)
    return {s: STAGE_COLOURS.get(s) or next(spare) for s in stages}


def platform_colours(platforms: list[str]) -> dict[str, str]:
    return {p: PLATFORM_PALETTE[i % len(PLATFORM_PALETTE)] for i, p in enumerate(platforms)}


def money(v: float, currency: str = "", digits: int = 0) -> str:
    """12,345 -> 'EUR 12k'; 1,234,567 -> 'EUR 1.23M'."""
    if v is None or not math.isfinite(v):
        return "n/a"
    sign = "-" if v < 0 else ""
    a = abs(v)
    if a >= 1e9:
        text = f"{a / 1e9:.1f}bn"
    elif a >= 1e7:
        text = f"{a / 1e6:.0f}M"
    elif a >= 1e6:
        text = f"{a / 1e6:.2f}M"
    elif a >= 1e4:
        text = f"{a / 1e3:.0f}k"
    elif a >= 1e3:
        text = f"{a / 1e3:.1f}k"
    else:
        text = f"{a:,.{digits}f}"
    return f"{sign}{currency + ' ' if currency else ''}{text}"


def count(v: float) -> str:
    return money(v, "", 0)


class MoneyTicks(Formatter):
    """An axis's amounts in one unit and one precision: 22.5k / 25k / 27.5k read
    '22.5k 25.0k 27.5k' (never '22k 25k 28k'), 8k / 16k read '8k 16k' (never '8.0k 16k').
    `currency` prefixes each label ('EUR 25k'); a single value (no axis) reads as `money`."""

    UNITS = ((1e9, "bn"), (1e6, "M"), (1e3, "k"), (1.0, ""))

    def __init__(self, currency: str = ""):
        self.currency = currency
        self._labels: dict[float, str] = {}

    def format_ticks(self, values) -> list[str]:
        vals = [float(v) for v in values]
        top = max((abs(v) for v in vals if math.isfinite(v)), default=0.0)
        scale, suffix = next(((u, n) for u, n in self.UNITS if top >= (u if u > 1 else 0)),
                             (1.0, ""))
        if suffix == "k" and top < 1e4 and any(v % 1e3 for v in vals if math.isfinite(v)):
            scale, suffix = 1.0, ""  # 200 / 400 / ... / 1,000 read plainer than 0.2k
        for digits in range(4 if scale > 1 else 7):
            if all(abs(round(v / scale, digits) - v / scale) <= 1e-9 * max(1.0, abs(v / scale))
                   for v in vals if math.isfinite(v)):
                break
        prefix = f"{self.currency} " if self.currency else ""
        out = []
        for v in vals:
            if not math.isfinite(v):
                out.append("")
                continue
            if v == 0:
                out.append("0")
                continue
            text = f"{abs(v) / scale:,.{digits}f}{suffix}"
            out.append(("-" if v < 0 and round(abs(v) / scale, digits) else "") + prefix + text)
        return out

    def __call__(self, x, pos=None) -> str:
        return money(x, self.currency)


def _money_axis(ax, currency: str, axis: str = "x", ticks: int = 5) -> None:
    """Money ticks without the currency (it goes in the axis label): they stay readable."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(MoneyTicks())
    target.set_major_locator(MaxNLocator(ticks))
    if currency:
        (ax.set_xlabel if axis == "x" else ax.set_ylabel)(f"spend ({currency})")


def _objective_words(goal: str, currency: str) -> str:
    return {"conversions": "conversions", "min_spend": f"spend ({currency})"}.get(
        goal, f"{goal} ({currency})")


def _fmt_objective(v: float, goal: str, currency: str) -> str:
    return count(v) if goal == "conversions" else money(v, currency)


# --- plan charts --------------------------------------------------------------------------


def allocation(plan: Plan) -> Figure:
    """Spend by stage and by platform, against today's spend when the scenario gives it."""
    cur = plan.currency
    has_base = "baseline" in plan.stages
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), constrained_layout=True)
    stages = plan.stages["stage"].tolist()
    platforms = plan.platforms["platform"].tolist()
    for ax, table, key, colours in (
        (axes[0], plan.stages, "stage", stage_colours(stages)),
        (axes[1], plan.platforms, "platform", platform_colours(platforms)),
    ):
        names = table[key].tolist()
        ys = np.arange(len(names))[::-1]
        h = 0.38 if has_base else 0.6
        bars = ax.barh(ys + (h / 2 if has_base else 0), table["spend"], height=h,
                       color=[colours[n] for n in names], label="optimal plan")
        if has_base:
            ax.barh(ys - h / 2, table["baseline"], height=h, color=BASELINE, label="today")
        top = max(table["spend"].max(), table["baseline"].max() if has_base else 0)
        for bar, spend, share in zip(bars, table["spend"], table["share_of_total"], strict=True):
            ax.text(bar.get_width() + top * 0.01, bar.get_y() + bar.get_height() / 2,
                    f"{money(spend, cur)} ({share:.0%})", va="center", fontsize=8)
        ax.set_yticks(ys, names)
        ax.set_xlim(0, top * 1.35 or 1.0)  # a plan of 0 (budget 0) still needs a scale
        _money_axis(ax, cur)
        ax.set_title(f"by {key}", loc="left", fontsize=10)
        if has_base:
            ax.legend(loc="lower right", frameon=False, fontsize=8)
    title = f"Optimal plan: {money(plan.total_spend, cur)} across {len(stages)} stages"
    if has_base:
        change = (plan.stages["spend"] - plan.stages["baseline"]).to_numpy()
        up, down = int(np.argmax(change)), int(np.argmin(change))
        if change[up] > 0 and change[down] < 0:
            title = (f"The plan moves {money(change[up], cur)} into {stages[up]} and "
                     f"{money(-change[down], cur)} out of {stages[down]}")
        elif change.sum() < 0:
            better = plan.baseline_objective is not None and \
                plan.solution.objective > plan.baseline_objective
            title = (f"The plan spends {money(plan.total_spend, cur)}, "
                     f"{money(-change.sum(), cur)} less than today"
                     + (", and earns more" if better else ""))
        elif change.sum() > 0:
            title = (f"The plan spends {money(change.sum(), cur)} more than today, "
                     f"most of it on {stages[up]}")
    fig.suptitle(title, fontweight="bold", fontsize=12, x=0.01, ha="left")
    return fig


def funnel(plan: Plan) -> Figure:
    """Volume and unit cost per stage, top of funnel first."""
    st = plan.stages
    colours = stage_colours(st["stage"].tolist())
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.5 * len(st)), constrained_layout=True)
    ys = np.arange(len(st))[::-1]
    vols = st["outcome"].clip(lower=1e-9)
    ax.barh(ys, vols, color=[colours[s] for s in st["stage"]], height=0.6)
    ax.set_xscale("log")
    ax.set_xlim(max(vols.min() / 3, 0.5), vols.max() * 40)
    for y, (_, row) in zip(ys, st.iterrows(), strict=True):
        cost = "" if not math.isfinite(row["unit_cost"]) else \
            f"  {row['unit_cost_label']} {money(row['unit_cost'], plan.currency, 2)}"
        ax.text(row["outcome"] * 1.15, y, f"{count(row['outcome'])} {row['kpi']}{cost}",
                va="center", fontsize=9)
    ax.set_yticks(ys, st["stage"])
    # a log axis: each tick its own unit, whole (1k, 10k, 1M; not 1.0k, 1.00M)
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda v, _: count(v).replace(".00M", "M").replace(".0k", "k")))
    ax.set_xlabel("volume bought (log scale)")
    steps = " → ".join(f"{count(r['outcome'])} {r['kpi']}" for _, r in st.iterrows())
    ax.set_title(steps if len(steps) < 95 else f"The funnel this plan buys: "
                 f"{count(st['outcome'].iloc[-1])} {st['kpi'].iloc[-1]} at the bottom",
                 loc="left")
    return fig


def response_curves(plan: Plan) -> Figure:
    """Each line's response curve with the planned (and today's) operating point."""
    if plan.timeline is not None:  # over periods: a line's curves against effective spend
        from .period_charts import response_curves as over_periods

        return over_periods(plan)
    p = plan.problem
    lines = plan.lines
    n = len(lines)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 2.3 * rows + 0.6),
                             constrained_layout=True, squeeze=False)
    colours = stage_colours(list(dict.fromkeys(p.stages)))
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        row = lines.iloc[k]
        curve = p.curve(k)
        base = row.get("baseline", 0.0) if "baseline" in lines else 0.0
        top = max(row["spend"], base, p.threshold[k]) * 1.6 or p.hi[k] * 0.5
        top = min(top, p.hi[k] * 1.05) if np.isfinite(p.hi[k]) and p.hi[k] > 0 else top
        top = max(top, 1.0)
        xs = np.linspace(0, top, 200)
        ax.plot(xs, curve.value(xs), color=colours[row["stage"]], lw=1.8)
        ax.plot([row["spend"]], [row["outcome"]], "o", color=colours[row["stage"]], ms=7,
                label="plan")
        if "baseline" in lines and base > 0:
            ax.plot([base], [float(curve.value(base))], "o", mfc="white", mec="#444444",
                    ms=6, label="today")
        if p.threshold[k] > 0:
            ax.axvspan(0, p.threshold[k], color="#EEEEEE", zorder=0)
        ax.set_title(row["line"], fontsize=9, loc="left")
        _money_axis(ax, "", "x")
        ax.yaxis.set_major_formatter(MoneyTicks())
        ax.tick_params(labelsize=7)
        ax.set_ylabel(row["kpi"], fontsize=7)
    axes.flat[0].legend(loc="lower right", frameon=False, fontsize=7)
    fig.suptitle(f"Response curves: where each line operates (spend in {plan.currency}; "
                 "grey = below the learning-phase minimum)", fontweight="bold", fontsize=11,
                 x=0.01, ha="left")
    return fig


# --- analysis charts ----------------------------------------------------------------------


def frontier(fr: Frontier) -> Figure:
    t = fr.table[fr.table["feasible"]]
    cur, goal = fr.currency, fr.goal
    fig, ax = plt.subplots(figsize=(9, 4.6), constrained_layout=True)
    ax.plot(t["budget"], t["objective"], color="#0072B2", lw=2, label=_objective_words(goal, cur))
    # each point is certified: the best plan lies between the line and its bound
    ax.fill_between(t["budget"], t["objective"], t["bound"], color="#0072B2", alpha=0.18,
                    lw=0, label="certified bound (no plan does better)")
    _money_axis(ax, "", "x", ticks=8)
    level = max(float(t["objective"].abs().max()), 1.0)
    if float(t["bound"].max() - t["objective"].min()) < 0.01 * level:
        # flat within the certificate: show it flat, not magnified rounding
        mid = float(t["objective"].mean())
        ax.set_ylim(mid - 0.1 * level, mid + 0.1 * level)
    ax.yaxis.set_major_formatter(MoneyTicks("" if goal == "conversions" else cur))
    ax.set_xlabel(f"total budget ({cur})")
    ax.set_ylabel(f"optimal {_objective_words(goal, cur)}")
    ax2 = None
    if "marginal_value" in t and goal != "conversions":
        ax2 = ax.twinx()
        ax2.spines["right"].set_visible(True)
        ax2.plot(t["budget"], t["marginal_value"], color="#D55E00", lw=1.5, ls="--",
                 label="value of the next unit of budget")
        ax2.axhline(1.0, color="#D55E00", lw=0.8, ls=":")
        ax2.set_ylabel("marginal value per unit of budget", color="#D55E00")
        ax2.tick_params(axis="y", colors="#D55E00")
    marks = [(fr.current_budget, "current budget", "#000000")]
    if fr.breakeven_budget:
        marks.append((fr.breakeven_budget, "breakeven (marginal value 1)", "#D55E00"))
    if fr.target_budget:
        marks.append((fr.target_budget, "target still met up to here", "#009E73"))
    ymin, ymax = ax.get_ylim()
    for k, (x, label, colour) in enumerate(marks):
        ax.axvline(x, color=colour, lw=1, ls="-.")
        ax.text(x, ymax - (ymax - ymin) * (0.06 + 0.07 * k), f" {label}\n {money(x, cur)}",
                color=colour, fontsize=8, va="top")
    here = fr.at(fr.current_budget)
    step = 0.1 * fr.current_budget
    nxt = fr.at(fr.current_budget + step)
    gain = (nxt["objective"] - here["objective"]) if np.isfinite(nxt["objective"]) else np.nan
    title = (f"+{money(step, cur)} on the budget buys {_fmt_objective(gain, goal, cur)} more "
             f"{_objective_words(goal, cur).split(' (')[0]}")
    if fr.breakeven_budget:
        title += (f"; each extra {cur} returns less than 1 of value above "
                  f"{money(fr.breakeven_budget, cur)}")
    elif "marginal_value" in t and goal != "conversions" and (t["marginal_value"] < 1).all():
        title += "; each extra unit already returns less than 1 of value"
    unspent = t["spend"] < 0.99 * t["budget"]
    if unspent.all():
        title = (f"The budget does not bind: the best plan spends {money(t['spend'].min(), cur)}"
                 f"-{money(t['spend'].max(), cur)} under every ceiling shown")
    ax.set_title(title, loc="left")
    lines = ax.get_legend_handles_labels()
    if ax2 is not None:
        l2 = ax2.get_legend_handles_labels()
        lines = (lines[0] + l2[0], lines[1] + l2[1])
    ax.legend(*lines, loc="upper left", bbox_to_anchor=(0.0, 0.9), frameon=False, fontsize=8)
    return fig


def guideline(gp: GuidelinePrice, plan: Plan | None = None) -> Figure:
    """The objective as the stage's share moves; the band; the free optimum; and, given
    the plan, where the plan sits (a soft guideline lets it sit outside the band)."""
    t = gp.table.dropna(subset=["objective"])
    cur, goal = gp.currency, gp.goal
    fig, ax = plt.subplots(figsize=(9, 4.4), constrained_layout=True)
    ax.axvspan(gp.band[0], gp.band[1], color="#56B4E9", alpha=0.25,
               label=f"guideline band {gp.band[0]:.0%}-{gp.band[1]:.0%}")
    ax.plot(t["share"], t["objective"], "o-", color="#0072B2", lw=2, ms=4,
            label=f"optimum with {gp.stage} share fixed")
    ax.plot([gp.free_share], [gp.free_objective], "*", color="#D55E00", ms=14,
            label=f"free optimum ({gp.free_share:.0%})")
    if plan is not None and plan.total_spend > 0:
        share = float(plan.lines.loc[plan.lines["stage"] == gp.stage, "spend"].sum()) \
            / plan.total_spend
        ax.axvline(share, color="#000000", lw=1.5, ls="--",
                   label=f"this plan: {gp.stage} at {share:.0%}")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(MoneyTicks("" if goal == "conversions" else cur))
    ax.set_xlabel(f"{gp.stage} share of the budget")
    ax.set_ylabel(_objective_words(goal, cur))
    if gp.cost > 0:
        title = (f"Keeping {gp.stage} at {gp.band[0]:.0%}-{gp.band[1]:.0%} costs "
                 f"{_fmt_objective(gp.cost, goal, cur)} ({gp.cost_pct:.1%}) against the "
                 f"free optimum at {gp.free_share:.0%}")
    else:
        title = (f"The {gp.band[0]:.0%}-{gp.band[1]:.0%} {gp.stage} guideline costs nothing: "
                 f"the free optimum ({gp.free_share:.0%}) lies inside it")
    ax.set_title(title, loc="left")
    ax.legend(frameon=False, fontsize=8, loc="best")
    return fig


def tornado(tor: Tornado, top: int = 12) -> Figure:
    t = tor.table.head(top).iloc[::-1]
    cur, goal = tor.currency, tor.goal
    base = tor.base_objective
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.38 * len(t)), constrained_layout=True)
    ys = np.arange(len(t))
    lo = t["low_reoptimised"] - base
    hi = t["high_reoptimised"] - base
    ax.barh(ys, lo, color="#D55E00", height=0.6, label=f"worse side (±{tor.delta:.0%})")
    ax.barh(ys, hi, color="#0072B2", height=0.6, label="better side")
    ax.plot(t["low_fixed"] - base, ys, "|", color="#000000", ms=10,
            label="plan held fixed")
    ax.plot(t["high_fixed"] - base, ys, "|", color="#000000", ms=10)
    ax.axvline(0, color="#000000", lw=0.8)
    ax.set_yticks(ys, [f"{r.line}: {r.factor}" for r in t.itertuples()])
    ax.xaxis.set_major_formatter(MoneyTicks("" if goal == "conversions" else cur))
    ax.set_xlabel(f"change in optimal {_objective_words(goal, cur)} (re-optimised)")
    first = tor.table.iloc[0]
    ax.set_title(f"Biggest lever: {first['line']} {first['factor']} ±{tor.delta:.0%} swings "
                 f"the optimum by {_fmt_objective(first['swing'], goal, cur)}", loc="left")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return fig


def uncertainty(unc: Uncertainty) -> Figure:
    t = unc.table
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.5 * len(t)), constrained_layout=True)
    ys = np.arange(len(t))[::-1]
    plan = t["plan"].replace(0, np.nan)
    lo, mid, hi = t["p10"] / plan - 1, t["p50"] / plan - 1, t["p90"] / plan - 1
    ax.barh(ys, hi - lo, left=lo, color="#56B4E9", height=0.5, label="P10-P90")
    ax.plot(mid, ys, "|", color="#0072B2", ms=14, mew=2, label="P50")
    ax.axvline(0, color="#000000", lw=0.8)
    # a plan of 0 (budget 0) has no relative deviation: its rows are NaN, the axis stays at 0
    left, right = np.nan_to_num([lo.min(), hi.max()], nan=0.0)
    money_kpis = {"objective", "value", "revenue"} - ({"objective"} if unc.goal in
                                                     ("conversions",) else set())
    for y, (_, row) in zip(ys, t.iterrows(), strict=True):
        show = (lambda v: money(v, unc.currency)) if row["kpi"] in money_kpis else count
        ax.text(max(right, 0) + 0.01, y, f"{show(row['p10'])} - {show(row['p90'])}",
                va="center", fontsize=8)
    names = [unc.labels.get(k, k) for k in t["kpi"]]
    ax.set_yticks(ys, names)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlim(min(left, 0) - 0.02, max(right, 0) + 0.12)
    ax.set_xlabel("deviation from the plan's expected value")
    spread = float(np.max(unc.spreads)) if len(unc.spreads) else 0.0
    # the title quotes the figure it names: the value (gross) for a value or revenue goal,
    # else the objective (profit, conversions, spend), never one row under another's name
    pick = unc.goal if unc.goal in ("value", "revenue") and unc.goal in set(t["kpi"]) \
        else "objective"
    row = t[t["kpi"] == pick].iloc[0] if pick in set(t["kpi"]) else t.iloc[0]
    what = {"value": "the plan's value (gross, before guideline penalties)",
            "revenue": "the plan's revenue"}.get(
        pick, "the plan's conversions" if unc.goal == "conversions" else
        f"the plan's {unc.labels.get(row['kpi'], row['kpi'])}")
    show = count if pick == "objective" and unc.goal == "conversions" else \
        (lambda v: money(v, unc.currency))
    title = (f"With curves uncertain by ±{spread:.0%}, {what} lands between "
             f"{show(row['p10'])} and {show(row['p90'])} (P10-P90, {unc.draws:,} draws)")
    if len(title) > 95:
        title = title.replace(" lands between", "\nlands between", 1)
    ax.set_title(title, loc="left")
    # the legend below the axis: inside it covered a row's label
    fig.legend(*ax.get_legend_handles_labels(), frameon=False, fontsize=8,
               loc="outside lower right", ncol=2)
    return fig


def save(fig: Figure, stem: str | Path) -> list[Path]:
    """Write stem.png and stem.svg; close the figure."""
    stem = Path(stem)
    out = []
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        fig.savefig(path, bbox_inches="tight")
        out.append(path)
    plt.close(fig)
    return out


def all_charts(plan: Plan, analyses: dict) -> dict[str, Figure]:
    """Every chart the report shows, by file stem."""
    figs = {"allocation": allocation(plan), "funnel": funnel(plan),
            "response_curves": response_curves(plan)}
    makers = {"frontier": frontier, "guideline": guideline, "tornado": tornado,
              "uncertainty": uncertainty}
    for key, result in analyses.items():
        if result is None or key not in makers or \
                (key == "guideline" and plan.scenario.guidelines is None):
            continue  # no guideline in the scenario: nothing to price
        figs[key] = guideline(result, plan) if key == "guideline" else makers[key](result)
    if plan.timeline is not None:
        from .period_charts import period_charts

        figs.update(period_charts(plan))
    return figs
