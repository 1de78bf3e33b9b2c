"""The finance report (one self-contained HTML file) and the Excel workbook.

Both are written from a finished Plan and its analyses; nothing here solves. Charts are
embedded as base64 PNG so the HTML opens anywhere without a network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

from . import __version__, charts
from .output import atomic_folder
from .plan import Plan, input_hash

__all__ = ["render_html", "write_workbook", "write_charts", "write_plan_folder"]


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
           "kpi": "KPI", "shadow_price": "shadow price", "next_1k": "next 1k buys",
           "min_if_active": "min if active", "value_per_outcome": "value / outcome",
           "revenue_per_outcome": "revenue / outcome", "p10": "P10", "p50": "P50",
           "p90": "P90"}


def _table(df: pd.DataFrame, formats: dict, total: dict | None = None) -> str:
    """An HTML table with per-column formatting; text columns left-aligned."""
    cols = list(formats)
    head = "".join(f'<th class="{"text" if formats[c] is None else ""}">'
                   f'{html.escape(HEADERS.get(c, c))}</th>' for c in cols)
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
    if plan.baseline_objective is not None:
        delta = s.objective - plan.baseline_objective
        rel = f" ({delta / abs(plan.baseline_objective):+.1%})" if plan.baseline_objective else ""
        baseline = {"delta": delta, "delta_text": f"{delta:+,.0f}{rel}",
                    "objective": show(plan.baseline_objective),
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
    binding = cons[cons["binding"]][["rule", "meaning"]].to_dict("records")
    cons_fmt = {"rule": None, "value": lambda v: _num(v, 2), "limit": lambda v: _num(v, 2),
                "binding": lambda v: "yes" if v else "", "soft": lambda v: "soft" if v else "",
                "violation": lambda v: _num(v, 2) if v else "",
                "shadow_price": lambda v: _num(v, 4)}

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
        if result is None:
            continue
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
        sensitivity.append({"heading": headings[key], "data": _png(makers[key](result)),
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
        stage_table=_table(plan.stages, stage_fmt, total),
        platform_table=_table(plan.platforms, platform_fmt),
        line_table=_table(lines, line_fmt),
        binding=[{k: html.escape(str(v)) for k, v in r.items()} for r in binding],
        constraint_table=_table(cons, cons_fmt),
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


def write_workbook(plan: Plan, analyses: dict | None, path: Path) -> None:
    """plan.xlsx: summary, plan, stages, platforms, constraints, sensitivity, inputs."""
    analyses = analyses or {}
    summary = pd.DataFrame(
        [(k, json.dumps(v) if isinstance(v, (list, dict)) else v)
         for k, v in plan.summary().items()], columns=["item", "value"])
    inputs = pd.DataFrame([{
        "line": line.name, "stage": line.stage, "platform": line.platform,
        "curve": json.dumps(line.curve.model_dump(exclude_none=True)),
        "min": line.min, "max": line.max, "min_if_active": line.min_if_active,
        "baseline": line.baseline} for line in plan.scenario.lines])
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        summary.to_excel(xl, sheet_name="summary", index=False)
        plan.lines.to_excel(xl, sheet_name="plan", index=False)
        plan.stages.to_excel(xl, sheet_name="stages", index=False)
        plan.platforms.to_excel(xl, sheet_name="platforms", index=False)
        plan.constraints.to_excel(xl, sheet_name="constraints", index=False)
        for key in ("frontier", "guideline", "tornado", "uncertainty"):
            if analyses.get(key) is not None:
                analyses[key].table.to_excel(xl, sheet_name=key, index=False)
        inputs.to_excel(xl, sheet_name="inputs", index=False)
        autofit_columns(xl)


def autofit_columns(xl: pd.ExcelWriter) -> None:
    """Readable column widths on every sheet (openpyxl has no auto-fit)."""
    for sheet in xl.book.worksheets:
        for column in sheet.columns:
            width = max(len(str(c.value)) if c.value is not None else 0 for c in column)
            sheet.column_dimensions[column[0].column_letter].width = min(max(10, width), 50)


def write_charts(plan: Plan, analyses: dict | None, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, fig in charts.all_charts(plan, analyses or {}).items():
        charts.save(fig, folder / name)


def write_plan_folder(plan: Plan, out: str | Path, *, analyses: dict | None = None,
                      force: bool = False, source: str | Path | None = None,
                      report: bool = True) -> Path:
    """Write the plan folder atomically: plan.csv, plan.json, plan.xlsx, the resolved
    scenario and (with `report`) charts/ and report.html all go to a temporary folder beside
    the target, which replaces the target only when complete."""
    with atomic_folder(out, force=force, inputs=[source] if source else []) as tmp:
        plan.lines.to_csv(tmp / "plan.csv", index=False)
        data = plan.to_dict()
        if source is not None:
            data["tool"]["input"] = str(source)
            data["tool"]["input_sha256"] = input_hash(source)
        (tmp / "plan.json").write_text(json.dumps(data, indent=2, allow_nan=False,
                                                  default=str), encoding="utf-8")
        write_workbook(plan, analyses, tmp / "plan.xlsx")
        resolved = plan.scenario.model_dump(mode="json", exclude_none=True,
                                            exclude={"variants"} if not plan.scenario.variants
                                            else None)
        header = (f"# resolved scenario written by allocator {__version__}"
                  + (f" from {source} (sha256 {data['tool']['input_sha256']})" if source else "")
                  + "\n")
        (tmp / "scenario.resolved.yaml").write_text(
            header + yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True),
            encoding="utf-8")
        if report:
            write_charts(plan, analyses, tmp / "charts")
            (tmp / "report.html").write_text(render_html(plan, analyses, source),
                                             encoding="utf-8")
    return Path(out)


