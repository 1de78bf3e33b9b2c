"""Excel workbooks: plan.xlsx and comparison.xlsx (openpyxl)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..analysis.compare import Comparison, line_spend
from ..plan import Plan

__all__ = ["write_workbook", "write_comparison_workbook", "autofit_columns"]


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


def write_comparison_workbook(cmp: Comparison, path: Path) -> None:
    """comparison.xlsx: the comparison, spend by line, the variants."""
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        cmp.wide().to_excel(xl, sheet_name="comparison", index=False)
        line_spend(cmp).to_excel(xl, sheet_name="spend by line", index=False)
        pd.DataFrame([{"variant": v.label, "description": v.description,
                       "changes": v.changes} for v in cmp.variants]).to_excel(
            xl, sheet_name="variants", index=False)
        autofit_columns(xl)
