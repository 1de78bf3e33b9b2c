"""The comparison folder: comparison.csv / .json / .xlsx, charts/ and a self-contained
report.html, written from a finished Comparison (nothing here solves)."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__, charts
from .compare import Comparison, formatted
from .comparison_charts import comparison_charts
from .output import atomic_folder
from .plan import input_hash
from .report import TEMPLATES, _num, _png, _table, autofit_columns

__all__ = ["render_comparison_html", "write_comparison_folder"]


def _objective_text(cmp: Comparison, v: float) -> str:
    goal = cmp.plans[0].problem.goal
    return f"{v:,.1f}" if goal == "conversions" else f"{cmp.currency} {v:,.0f}"


def line_spend(cmp: Comparison) -> pd.DataFrame:
    """Spend per line (rows) and variant (columns)."""
    out = None
    for label, plan in zip(cmp.labels, cmp.plans, strict=True):
        df = plan.lines[["line", "stage", "platform", "spend"]].rename(columns={"spend": label})
        out = df if out is None else out.merge(df, on=["line", "stage", "platform"],
                                               how="outer", sort=False)
    return out.fillna(0.0)


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


def comparison_json(cmp: Comparison) -> dict:
    wide = cmp.wide().replace({np.nan: None})
    return {
        "variants": [{"label": v.label, "description": v.description, "changes": v.changes,
                      "status": p.solution.status, "gap": p.solution.gap,
                      "objective": p.solution.objective, "total_spend": p.total_spend,
                      "lines": json.loads(p.lines[["line", "spend", "outcome"]].to_json(
                          orient="records"))}
                     for v, p in zip(cmp.variants, cmp.plans, strict=True)],
        "comparison": wide.to_dict(orient="records"),
        "tool": {"name": "allocator", "version": __version__},
    }


def write_comparison_folder(cmp: Comparison, out: str | Path, *, sources: list[str | Path],
                            force: bool = False) -> Path:
    """comparison.csv, comparison.json, comparison.xlsx, charts/ and report.html, written
    all at once (see `atomic_folder`)."""
    with atomic_folder(out, force=force, inputs=sources) as tmp:
        cmp.wide().to_csv(tmp / "comparison.csv", index=False)
        (tmp / "comparison.json").write_text(
            json.dumps(comparison_json(cmp), indent=2, allow_nan=False, default=str),
            encoding="utf-8")
        with pd.ExcelWriter(tmp / "comparison.xlsx", engine="openpyxl") as xl:
            cmp.wide().to_excel(xl, sheet_name="comparison", index=False)
            line_spend(cmp).to_excel(xl, sheet_name="spend by line", index=False)
            pd.DataFrame([{"variant": v.label, "description": v.description,
                           "changes": v.changes} for v in cmp.variants]).to_excel(
                xl, sheet_name="variants", index=False)
            autofit_columns(xl)
        (tmp / "charts").mkdir()
        for key, fig in comparison_charts(cmp).items():
            charts.save(fig, tmp / "charts" / key)
        (tmp / "report.html").write_text(render_comparison_html(cmp, sources),
                                         encoding="utf-8")
    return Path(out)
