"""The finance reports as HTML: the plan's report and the comparison's, each one
self-contained file.

Both are written from finished plans and analyses; nothing here solves. Charts are
embedded as base64 PNG so the HTML opens anywhere without a network.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from .. import __version__
from ..analysis.compare import Comparison, line_spend
from ..plan import Plan, input_hash
from . import charts
from .comparison_charts import comparison_charts
from .console import formatted

__all__ = ["render_html", "render_comparison_html"]


# the templates build HTML from pre-formatted table markup; text fields are escaped there
TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("allocator", "templates"),
                               autoescape=False)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    charts.plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _num(v, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return f"{v:,.{digits}f}"


def _pct(v) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.1%}"


HEADERS = {"share_of_total": "share", "share_of_stage": "share of stage",
           "unit_cost": "unit cost", "unit_cost_label": "cost metric", "roas": "ROAS",
           "kpi": "KPI", "shadow_price": "shadow price", "next_1k": "next 1k adds ({cur})",
           "min_if_active": "min if active", "value_per_outcome": "value / outcome",
           "revenue_per_outcome": "revenue / outcome", "p10": "P10", "p50": "P50",
           "p90": "P90", "plan_at": "plan at", "limit_at": "limit",
           "meaning": "price (what relaxing it is worth)", "today_spend": "spend today ({cur})",
           "plan_spend": "spend plan ({cur})", "today_share": "share today",
           "plan_share": "share plan",
           "today_outcome": "outcome today", "plan_outcome": "outcome plan",
           "metric": "cost metric", "today_cost": "unit cost today",
           "plan_cost": "unit cost plan", "today_roas": "ROAS today", "plan_roas": "ROAS plan",
           "spend": "spend ({cur})", "baseline": "today ({cur})", "change": "change ({cur})",
           }


def _header(c: str, cur: str) -> str:
    text = HEADERS.get(c, c)
    return text.replace("{cur}", cur) if cur else text.replace(" ({cur})", "")


def _table(df: pd.DataFrame, formats: dict, total: dict | None = None, cur: str = "") -> str:
    """An HTML table with per-column formatting; text columns left-aligned; money headers
    carry the currency when `cur` is given."""
    cols = list(formats)
    head = "".join(f'<th class="{"text" if formats[c] is None else ""}">'
                   f'{html.escape(_header(c, cur))}</th>' for c in cols)
    body = []
    for _, row in df.iterrows():
        cells = []
        for c in cols:
            f = formats[c]
            v = row.get(c)
            text = html.escape(str(v if v is not None and v == v else "")) if f is None else f(v)
            cells.append(f'<td class="{"text" if f is None else ""}">{text}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    if total:
        cells = "".join(f"<td>{html.escape(str(total.get(c, '')))}</td>" for c in cols)
        body.append(f'<tr class="total">{cells}</tr>')
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _today_table(plan: Plan) -> str:
    """Today against the plan, per stage: spend, share, outcome, unit cost, ROAS, and what
    the next 1k adds (the plan's). Empty without a baseline."""
    if plan.baseline_accounting is None or "baseline" not in plan.lines:
        return ""
    p, sc = plan.problem, plan.scenario
    lines = plan.lines.assign(today_outcome=p.outcomes(np.asarray(plan.lines["baseline"],
                                                                     dtype=float)))
    lines = lines.assign(today_revenue=p.revenue_per_outcome * lines["today_outcome"])
    g = lines.groupby("stage", sort=False).agg(
        today=("baseline", "sum"), plan=("spend", "sum"), today_out=("today_outcome", "sum"),
        plan_out=("outcome", "sum"), today_rev=("today_revenue", "sum"),
        plan_rev=("revenue", "sum")).reset_index()
    per = np.array([sc.stages[s].per for s in g["stage"]])
    t_total, p_total = g["today"].sum(), g["plan"].sum()

    def ratio(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, a / b, np.nan)

    best = plan.lines.groupby("stage", sort=False)["marginal_return"].max()
    df = pd.DataFrame({
        "stage": [f"{s} ({sc.stages[s].unit_cost_label})" for s in g["stage"]],
        "today_spend": g["today"], "plan_spend": g["plan"],
        "today_share": g["today"] / max(t_total, 1e-12), "plan_share": g["plan"] / p_total,
        "today_outcome": g["today_out"], "plan_outcome": g["plan_out"],
        "today_cost": ratio(g["today"] * per, g["today_out"]),
        "plan_cost": ratio(g["plan"] * per, g["plan_out"]),
        "today_roas": np.where(g["plan_rev"] + g["today_rev"] > 0,
                               ratio(g["today_rev"], g["today"]), np.nan),
        "plan_roas": np.where(g["plan_rev"] + g["today_rev"] > 0,
                              ratio(g["plan_rev"], g["plan"]), np.nan),
        "next_1k": [best.get(s, np.nan) * 1000 for s in g["stage"]]})
    two = lambda v: _num(v, 2)  # noqa: E731
    return _table(df, {"stage": None, "today_spend": _num, "plan_spend": _num,
                       "today_share": _pct, "plan_share": _pct, "today_outcome": _num,
                       "plan_outcome": _num, "today_cost": two,
                       "plan_cost": two, "today_roas": two, "plan_roas": two,
                       "next_1k": _num},
                  {"stage": "total", "today_spend": _num(t_total), "plan_spend": _num(p_total),
                   "today_share": "100.0%", "plan_share": "100.0%"}, plan.currency)


def _signed(v) -> str:
    if v is None or not np.isfinite(v):
        return ""
    cls = "pos" if v > 0 else ("neg" if v < 0 else "")
    return f'<span class="{cls}">{v:+,.0f}</span>'


def render_html(plan: Plan, analyses: dict | None = None, source: str | Path | None = None
                ) -> str:
    analyses = analyses or {}
    sc, s, cur = plan.scenario, plan.solution, plan.currency
    goal = plan.problem.goal
    show = (lambda v: f"{v:,.1f}") if goal == "conversions" else \
        (lambda v: f"{cur} {v:,.0f}")
    objective = plan.shown(s.objective)
    has_base = "baseline" in plan.lines
    baseline = None
    if plan.baseline_accounting is not None:
        base, acc = plan.baseline_accounting, plan.accounting
        delta = acc.earned - base.earned
        rel = f" ({delta / base.earned:+.1%})" if base.earned > 0 else ""
        more = acc.spend - base.spend
        baseline = {"delta": delta, "delta_text": f"{delta:+,.0f}{rel}",
                    "objective": show(base.earned), "label": html.escape(acc.earned_label),
                    "spend_text": "" if abs(more) < 0.5 else
                    f"the plan spends {cur} {abs(more):,.0f} {'more' if more > 0 else 'less'}",
                    "feasible": not plan.baseline_violations}
    b = sc.budget
    budget_text = "" if b is None else (f"budget {cur} {b.max:,.0f}" if b.exact else
                                        f"budget {_num(b.min) or '0'} to {_num(b.max) or 'open'}")

    money = {"spend": lambda v: _num(v), "baseline": lambda v: _num(v), "change": _signed}
    stage_fmt = {"stage": None, "spend": money["spend"], "share_of_total": _pct,
                 "outcome": _num, "kpi": None, "unit_cost": lambda v: _num(v, 2),
                 "unit_cost_label": None, "revenue": _num, "roas": lambda v: _num(v, 2)}
    if has_base:
        stage_fmt.update({"baseline": money["baseline"], "change": _signed})
    platform_fmt = {k: v for k, v in stage_fmt.items() if k not in
                    ("stage", "outcome", "kpi", "unit_cost", "unit_cost_label")}
    platform_fmt = {"platform": None, **platform_fmt}
    lines = plan.lines.assign(next_1k=plan.lines["marginal_return"] * 1000)
    line_fmt = {"line": None, "stage": None, "platform": None, "spend": _num,
                "share_of_stage": _pct, "outcome": _num, "unit_cost": lambda v: _num(v, 2),
                "unit_cost_label": None, "roas": lambda v: _num(v, 2),
                "next_1k": lambda v: _num(v, 2)}
    if has_base:
        line_fmt.update({"baseline": _num, "change": _signed})
    total = {"stage": "total", "spend": _num(plan.total_spend), "share_of_total": "100.0%"}
    if has_base:
        total["baseline"] = _num(plan.stages["baseline"].sum())
        total["change"] = f"{plan.total_spend - plan.stages['baseline'].sum():+,.0f}"

    cons = plan.constraints
    binding = cons[cons["binding"]][["rule", "plan_at", "meaning"]].to_dict("records")
    cons_fmt = {"rule": None, "plan_at": None, "limit_at": None,
                "binding": lambda v: "yes" if v else "", "soft": lambda v: "soft" if v else "",
                "meaning": None}
    acc = plan.accounting
    guide = analyses.get("guideline") if sc.guidelines is not None else None
    band_rows = []
    for band in acc.bands:
        keep = ""
        if guide is not None and guide.stage == band.stage and not band.holds \
                and math.isfinite(guide.cost):
            keep = f"holding the band would cost {show(guide.cost)} of the objective"
        band_rows.append({"words": html.escape(band.words(cur)), "holds": band.holds,
                          "keep": keep})
    figures = [{"label": lab, "value": show(v) if "(" in lab or goal != "conversions"
                else f"{v:,.1f}"} for lab, v in acc.rows()]
    today = _today_table(plan)

    plan_figs = [("allocation", charts.allocation(plan), "Spend by stage and platform"),
                 ("funnel", charts.funnel(plan), "Volume and unit cost per stage"),
                 ("response_curves", charts.response_curves(plan), "Response curves")]
    headings = {"frontier": "Budget frontier: what more or less budget buys",
                "guideline": "What the prospecting guideline costs",
                "tornado": "Which assumptions matter most",
                "uncertainty": "How sure the plan's outcome is"}
    sensitivity = []
    makers = {"frontier": charts.frontier, "guideline": charts.guideline,
              "tornado": charts.tornado, "uncertainty": charts.uncertainty}
    for key in ("frontier", "guideline", "tornado", "uncertainty"):
        result = analyses.get(key)
        if result is None or (key == "guideline" and sc.guidelines is None):
            continue  # no guideline in the scenario: nothing to price
        table = None
        if key == "uncertainty":
            table = _table(result.table.assign(kpi=[result.labels.get(k, k)
                                                    for k in result.table["kpi"]]),
                           {"kpi": None, "p10": _num, "p50": _num, "p90": _num, "plan": _num})
        elif key == "guideline":
            table = (f"<p>Free optimum: {result.stage} at {result.free_share:.0%}, "
                     f"{show(result.free_objective)}; inside the band: "
                     f"{show(result.banded_objective)}; the band costs "
                     f"<b>{show(result.cost)} ({result.cost_pct:.1%})</b>.</p>")
        fig = charts.guideline(result, plan) if key == "guideline" else makers[key](result)
        sensitivity.append({"heading": headings[key], "data": _png(fig),
                            "alt": headings[key], "table": table})

    curve_rows = pd.DataFrame([{
        "line": line.name, "stage": line.stage, "platform": line.platform, "kind": line.kind,
        "curve": line.curve.type,
        "parameters": ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                                for k, v in line.curve.model_dump(exclude_none=True).items()
                                if k != "type"),
        "min": line.min, "max": line.max, "min_if_active": line.min_if_active,
        "value_per_outcome": sc.value_per_outcome(line),
        "revenue_per_outcome": sc.revenue_per_outcome(line)} for line in sc.lines])
    stage_rows = pd.DataFrame([{"stage": k, "kpi": v.kpi, "unit cost": v.unit_cost_label,
                                "per": v.per, "value per outcome": v.value_per_outcome,
                                "revenue per outcome": v.revenue_per_outcome}
                               for k, v in sc.stages.items()])
    guidelines = ""
    if sc.guidelines is not None:
        bands = ", ".join(f"{k} {lo:.0%}-{hi:.0%}" for k, (lo, hi) in sc.guideline_bands().items())
        guidelines = (f"Preset {sc.guidelines.preset or 'none'}, {sc.guidelines.enforce}: "
                      f"{bands}" + (f"; {cur} {sc.guidelines.penalty_per_point:,.0f} of "
                                    "objective per percentage point outside a band"
                                    if sc.guidelines.enforce == "soft" else ""))

    template = TEMPLATES.get_template("report.html")
    return template.render(
        periods=_periods_section(plan, analyses),
        title=html.escape(sc.name), description=html.escape(sc.description or ""),
        period=html.escape(sc.period or ""), currency=cur, version=__version__,
        source=html.escape(str(source)) if source else "",
        sha=input_hash(source) if source else "",
        spend=f"{cur} {plan.total_spend:,.0f}", budget_text=budget_text,
        objective_label=html.escape(plan.objective_label), objective=show(objective),
        gap=f"{s.gap:.3%}", bound=show(s.bound), solver=s.method, seconds=f"{s.seconds:.2f}",
        status=s.status, notes=[html.escape(n) for n in s.notes], baseline=baseline,
        violations=[html.escape(v) for v in plan.violations],
        plan_charts=[{"data": _png(f), "alt": alt} for _, f, alt in plan_figs],
        stage_table=_table(plan.stages, stage_fmt, total, cur),
        platform_table=_table(plan.platforms, platform_fmt, cur=cur),
        line_table=_table(lines, line_fmt, cur=cur),
        binding=[{k: html.escape(str(v)) for k, v in r.items()} for r in binding],
        constraint_table=_table(cons, cons_fmt),
        figures=figures, bands=band_rows, today=today, accounting=acc,
        value=show(acc.value) if goal != "conversions" else f"{acc.value:,.1f}",
        value_label=html.escape(acc.value_label),
        penalties=f"{cur} {acc.penalties:,.0f}" if any(b.soft for b in acc.bands) else "",
        sensitivity=sensitivity,
        stage_assumptions=_table(stage_rows, {"stage": None, "kpi": None, "unit cost": None,
                                              "per": _num, "value per outcome":
                                              lambda v: _num(v, 4),
                                              "revenue per outcome": lambda v: _num(v, 2)}),
        curve_table=_table(curve_rows, {"line": None, "stage": None, "platform": None,
                                        "kind": None, "curve": None, "parameters": None,
                                        "min": _num, "max": _num, "min_if_active": _num,
                                        "value_per_outcome": lambda v: _num(v, 4),
                                        "revenue_per_outcome": lambda v: _num(v, 2)}),
        guidelines=html.escape(guidelines),
    )


def _periods_section(plan: Plan, analyses: dict) -> dict | None:
    """A plan over periods: what phasing and carryover do, in words, charts and tables."""
    tl = plan.timeline
    if tl is None:
        return None
    from .period_charts import period_charts

    cur = plan.currency
    per = tl.periods
    inplan = per[per["in_plan"]]
    carried = float(per["value_from_earlier_periods"].sum()
                    + per["value_from_before_the_plan"].sum())
    total = float(per["value"].sum())
    words = [f"{len(inplan)} periods, {cur} {inplan['spend'].sum():,.0f} in all; "
             f"{carried / total:.0%} of the value comes from carryover" if total > 0 else ""]
    after = per[~per["in_plan"]]
    if len(after):
        words.append(f"{len(after)} period(s) after the plan still count for "
                     f"{cur} {after['value'].sum():,.0f}")
    words += tl.moves
    if analyses.get("phasing") is not None:
        words.append(analyses["phasing"].words())
    titles = {"phasing": "Spend per period by stage", "effect_over_time": "Value over time by "
              "source", "cash_flow": "Cash out against the period budgets",
              "lines_over_time": "Spend and effective spend of the largest lines"}
    fmt = {"period": None, "spend": _num, "budget_max": _num, "value": _num,
           "value_from_earlier_periods": _num, "value_from_before_the_plan": _num,
           "next_1k_buys": lambda v: _num(v, 2), "last_1k_buys": lambda v: _num(v, 2)}
    table = per[list(fmt)].rename(columns={"next_1k_buys": "next_1k_adds",
                                           "last_1k_buys": "last_1k_added"})
    fmt = {{"next_1k_buys": "next_1k_adds", "last_1k_buys": "last_1k_added"}.get(k, k): v
           for k, v in fmt.items()}
    wide = tl.wide.reset_index()
    return {"count": len(inplan), "summary": html.escape("; ".join(w for w in words if w) + "."),
            "charts": [{"data": _png(fig), "alt": titles[key]}
                       for key, fig in period_charts(plan).items()],
            "period_table": _table(table, fmt, cur=cur),
            "wide_table": _table(wide, {c: (None if c == "line" else _num)
                                        for c in wide.columns}, cur=cur)}


# --- comparison ------------------------------------------------------------------------------


def _objective_text(cmp: Comparison, v: float) -> str:
    goal = cmp.plans[0].problem.goal
    return f"{v:,.1f}" if goal == "conversions" else f"{cmp.currency} {v:,.0f}"


def _comparison_table(cmp: Comparison) -> str:
    """Metrics x variants; each variant's cell also shows its change from the base."""
    def tint(text: str, delta: float) -> str:
        return f'<span class="{"pos" if delta > 0 else "neg"} small">{html.escape(text)}</span>'

    return _table(formatted(cmp, tint), {"section": None, "metric": None,
                                         **{lab: (lambda v: v) for lab in cmp.labels}})


def render_comparison_html(cmp: Comparison, sources: list[str | Path]) -> str:
    base = cmp.plans[0]
    sc = base.scenario
    name, values = cmp.objective()
    cards = []
    for k, (label, plan) in enumerate(zip(cmp.labels, cmp.plans, strict=True)):
        delta = values[k] - values[0]
        cards.append({"label": label, "objective": _objective_text(cmp, values[k]),
                      "spend": charts.money(plan.total_spend, cmp.currency),
                      "delta_value": delta,
                      "delta": "" if k == 0 else (f"{delta:+,.0f}" + (
                          f" ({delta / abs(values[0]):+.1%})" if values[0] else ""))})
    status = [f"'{lab}' is {p.solution.status} with gap {p.solution.gap:.3%}"
              + (f" ({'; '.join(p.solution.notes)})" if p.solution.notes else "")
              for lab, p in zip(cmp.labels, cmp.plans, strict=True)
              if p.solution.status != "optimal"]
    figs = comparison_charts(cmp)
    alts = {"allocation_by_variant": "spend by stage for every variant",
            "waterfall_stage": "where the money moves by stage, base to each variant",
            "waterfall_platform": "where the money moves by platform, base to each variant",
            "kpi_changes": "change of every KPI against the base"}
    spend = line_spend(cmp)
    line_fmt = {"line": None, "stage": None, "platform": None,
                **{lab: _num for lab in cmp.labels}}
    return TEMPLATES.get_template("compare.html").render(
        title=f"Comparison: {sc.name}", description=sc.description or "", period=sc.period,
        currency=cmp.currency, version=__version__,
        sources=[{"file": str(s), "sha": input_hash(s)} for s in sources],
        cards=cards, objective_name=name.split(" (")[0],
        all_optimal=not status, status_notes=status,
        worst_gap=f"{max(p.solution.gap for p in cmp.plans):.3%}",
        variants=[{"label": v.label, "description": v.description, "changes": v.changes}
                  for v in cmp.variants],
        charts=[{"data": _png(fig), "alt": alts.get(key, key)} for key, fig in figs.items()],
        table=_comparison_table(cmp), line_table=_table(spend, line_fmt))
