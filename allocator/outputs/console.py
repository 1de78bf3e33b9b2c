"""The console: a plan and a comparison as plain text tables."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from ..analysis.compare import Comparison
from ..plan import Plan

__all__ = ["format_table", "headline", "format_comparison", "formatted", "format_cell",
           "format_change"]


def _money(v: float) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:,.0f}"


def _pct_change(delta: float, base: float) -> str:
    """A relative change only where it means something: against a positive base."""
    return f" ({delta / base:+.1%})" if base > 0 else ""


def headline(plan: Plan) -> list[str]:
    """The plan's figures, each named: value (gross), spend, guideline penalties, the net
    objective the certificate is on, and the change against today on the same figure."""
    s, acc, cur = plan.solution, plan.accounting, plan.currency
    out = [f"{plan.scenario.name}: {s.status}"]
    if acc.goal == "min_spend":
        out.append(f"spend {cur} {acc.spend:,.0f} (minimised)")
    else:
        out.append(f"{acc.value_label} {acc.value:,.2f}; spend {cur} {acc.spend:,.0f}"
                   + (f"; {acc.earned_label} {acc.earned:,.2f}"
                      if acc.earned_label != acc.value_label else ""))
    if any(b.soft for b in acc.bands):
        out.append(f"guideline penalties {cur} {acc.penalties:,.2f}; objective net of "
                   f"penalties {plan.shown(acc.objective):,.2f}")
    out.append(f"certified: at most {s.gap:.3%} below the best plan (bound on the net "
               f"objective {plan.shown(s.bound):,.2f}); solver {s.method}, {s.seconds:.2f} s")
    base = plan.baseline_accounting
    if base is not None:
        delta = acc.earned - base.earned
        spend = acc.spend - base.spend
        more = "" if abs(spend) < 0.5 else (f"; the plan spends {cur} {abs(spend):,.0f} "
                                            f"{'more' if spend > 0 else 'less'} than today")
        broken = plan.baseline_violations
        feas = "" if not broken else (f" (today's spend breaks {len(broken)} constraint"
                                      f"{'s' if len(broken) > 1 else ''}: "
                                      f"{broken[0].split(': ', 1)[-1]}"
                                      f"{', ...' if len(broken) > 1 else ''})")
        out.append(f"today: {acc.earned_label} {base.earned:,.2f}; plan {delta:+,.2f}"
                   f"{_pct_change(delta, base.earned)}{more}{feas}")
    return out


def format_table(plan: Plan) -> str:
    """The plan as a readable console table."""
    s, cur = plan.solution, plan.currency
    out = headline(plan)
    out.extend(f"note: {n}" for n in s.notes)
    cols = ["line", "stage", "platform", "spend", "share_of_total", "outcome", "unit_cost",
            "unit_cost_label", "roas", "next_1k"]
    if "baseline" in plan.lines:
        cols += ["baseline", "change"]
    lines = plan.lines.assign(next_1k=plan.lines["marginal_return"] * 1000)
    df = lines[cols].rename(columns={"next_1k": f"next {cur} 1k adds", "spend":
                                     f"spend ({cur})", "baseline": f"today ({cur})",
                                     "share_of_total": "share", "unit_cost_label": "metric",
                                     "unit_cost": "unit cost", "roas": "ROAS"})
    fmt = {f"spend ({cur})": _money, "outcome": _money, f"today ({cur})": _money,
           "change": lambda v: f"{v:+,.0f}",
           "share": lambda v: f"{v:.1%}",
           "unit cost": lambda v: "" if not math.isfinite(v) else f"{v:,.2f}",
           "ROAS": lambda v: "" if not math.isfinite(v) else f"{v:.2f}",
           f"next {cur} 1k adds": lambda v: f"{v:,.2f}"}
    if plan.timeline is None:
        out += ["", df.to_string(index=False, formatters=fmt, na_rep="")]
    else:  # one row per line x period would run to hundreds: the two period tables
        out += periods_block(plan)
    st = plan.stages[["stage", "spend", "share_of_total", "outcome", "kpi", "unit_cost",
                      "unit_cost_label", "roas"]].rename(
        columns={"spend": f"spend ({cur})", "share_of_total": "share",
                 "unit_cost_label": "metric", "unit_cost": "unit cost", "roas": "ROAS"})
    out += ["", st.to_string(index=False, formatters=fmt, na_rep="")]
    out += [f"next {cur} 1k adds: the net objective the next {cur} 1,000 on the line adds "
            "(after guideline penalties; an unfunded line: its best first block)"]
    bands = plan.accounting.bands
    if bands:
        out += ["", "guidelines:"] + [f"  {b.words(cur)}" for b in bands]
    bind = plan.constraints[plan.constraints["binding"]]
    if len(bind):
        out += ["", "binding constraints and their prices:"]
        for _, row in bind.iterrows():
            meaning = f": {row['meaning']}" if row["meaning"] else ""
            out.append(f"  {row['rule']} (plan at {row['plan_at']}){meaning}")
    if plan.violations:
        out += ["", "CONSTRAINTS BROKEN (please report):", *plan.violations]
    return "\n".join(out)


def periods_block(plan: Plan) -> list[str]:
    """A plan over periods: spend per line and period, then per period the budget, value
    (and how much of it carryover brings) and what the next / last 1,000 there earns."""
    tl, cur = plan.timeline, plan.currency
    wide = tl.wide.map(lambda v: f"{v:,.0f}")
    per = tl.periods
    table = pd.DataFrame({
        "period": per["period"],
        f"spend ({cur})": per["spend"].map(_money),
        "budget": [_budget_text(r) for _, r in per.iterrows()],
        f"value ({cur})": per["value"].map(_money),
        "from earlier periods": per["value_from_earlier_periods"].map(_money),
        "from before the plan": per["value_from_before_the_plan"].map(_money),
        f"next {cur} 1k adds": per["next_1k_buys"].map(lambda v: "" if not math.isfinite(v)
                                                        else f"{v:,.2f}"),
        f"last {cur} 1k added": per["last_1k_buys"].map(lambda v: "" if not math.isfinite(v)
                                                        else f"{v:,.2f}")})
    out = ["", f"spend by line and period ({cur}; per line x period: "
           "plan_line_x_period.csv with --out)", wide.to_string(), "",
           "by period:", table.to_string(index=False)]
    out += [f"  {m}" for m in tl.moves]
    left = tl.carry_left[tl.carry_left["effective_spend_after_plan"] > 0.5]
    if len(left):
        out.append("  carryover still working after the plan (effective spend): " + ", ".join(
            f"{r.line} {cur} {r.effective_spend_after_plan:,.0f}" for r in left.itertuples()))
    return out


def _budget_text(row: pd.Series) -> str:
    if not row["in_plan"]:
        return "after the plan"
    money = _bounds_text(row["budget_min"], row["budget_max"], "{:,.0f}", "")
    share = _bounds_text(row["budget_share_min"], row["budget_share_max"], "{:.0%}",
                         " of the plan")
    return ", ".join(money + share)


def _bounds_text(lo: float, hi: float, fmt: str, exact_suffix: str) -> list[str]:
    """'= v' for an exact bound (with `exact_suffix`), else '>= lo' and/or '<= hi'."""
    if math.isfinite(lo) and lo == hi:
        return [f"= {fmt.format(lo)}{exact_suffix}"]
    return ([f">= {fmt.format(lo)}"] if math.isfinite(lo) else []) + \
        ([f"<= {fmt.format(hi)}"] if math.isfinite(hi) else [])


def format_cell(value: float, unit: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if unit == "%":
        return f"{value:.1%}"
    if unit == "gap":
        return f"{value:.3%}"
    if abs(value) < 0.005:
        return "0"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def format_change(value: float, base: float, unit: str) -> str:
    if not (math.isfinite(value) and math.isfinite(base)) \
            or abs(value - base) <= 1e-6 * max(abs(base), 1.0):  # same within the solver's noise
        return ""
    if unit == "gap":
        return ""
    if unit == "%":
        return f" ({(value - base) * 100:+.1f} pt)"
    if unit == "x":
        return f" ({value - base:+.2f})"
    rel = f", {(value - base) / base:+.1%}" if base > 0 else ""  # no % of a loss
    diff = value - base
    return f" ({diff:+,.0f}{rel})" if abs(diff) >= 100 else f" ({diff:+,.2f}{rel})"


def formatted(cmp: Comparison, change: Callable[[str, float], str] | None = None
              ) -> pd.DataFrame:
    """The comparison as text: one row per metric (its unit in the name), each variant's
    cell with its change from the base. `change(text, delta)` may decorate the change."""
    labels = cmp.labels
    rows = []
    for _, r in cmp.table.iterrows():
        unit = r["unit"]
        name = r["metric"] + (f" ({unit})" if unit not in ("", "%", "x", "gap") else "")
        row = {"section": r["section"], "metric": name,
               labels[0]: format_cell(r[labels[0]], unit)}
        for lab in labels[1:]:
            text = format_change(r[lab], r[labels[0]], unit).strip()
            if text and change is not None:
                text = change(text, r[lab] - r[labels[0]])
            row[lab] = format_cell(r[lab], unit) + (f" {text}" if text else "")
        rows.append(row)
    return pd.DataFrame(rows, columns=["section", "metric", *labels])


def format_comparison(cmp: Comparison, width: int = 100) -> str:
    """The comparison as a console table: values, and each variant's change from the base.
    Wider than `width`, the variants are shown in blocks, each beside the base."""
    labels = cmp.labels
    table = formatted(cmp)
    name, _ = cmp.objective()
    out = [f"compared: {name} (gross of guideline penalties); changes from '{labels[0]}' in "
           "brackets",
           "'today': today's spend valued under each variant's own assumptions", ""]

    def block(cols: list[str]) -> list[str]:
        head = ["", *cols]
        body = []
        section = None
        for _, r in table.iterrows():
            if r["section"] != section:
                section = r["section"]
                body.append([section.upper()] + [""] * len(cols))
            body.append([f"  {r['metric']}", *r[cols]])
        widths = [max(len(str(row[k])) for row in [head, *body]) for k in range(len(head))]
        rows = ["  ".join(str(c).ljust(w) if k == 0 else str(c).rjust(w)
                          for k, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                for row in [head, *body]]
        rows.insert(1, "-" * max(len(r) for r in rows))
        return rows

    def span(cols: list[str]) -> int:
        return max(len(r) for r in block(cols)[:1] + block(cols)[2:])

    groups: list[list[str]] = []
    for lab in labels[1:]:
        if groups and span([labels[0], *groups[-1], lab]) <= width:
            groups[-1].append(lab)
        else:
            groups.append([lab])
    for k, group in enumerate(groups or [[]]):
        out += ([""] if k else []) + block([labels[0], *group])
    notes = [f"{v.label}: {v.description}" for v in cmp.variants if v.description]
    status = [f"{lab}: {p.solution.status}, gap {p.solution.gap:.3%}"
              for lab, p in zip(labels, cmp.plans, strict=True) if p.solution.status != "optimal"]
    return "\n".join(out + ([""] + notes if notes else []) + status)
