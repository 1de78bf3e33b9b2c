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
    figures = [(label, v) for label, v in plan.accounting.rows()]
    if plan.baseline_accounting is not None:
        figures += [(f"today: {label}", v) for label, v in plan.baseline_accounting.rows()]
    figures += [(f"guideline: {b.stage}", b.words(plan.currency))
                for b in plan.accounting.bands]
    summary = pd.DataFrame(
        figures + [(k, json.dumps(v) if isinstance(v, (list, dict)) else v)
                   for k, v in plan.summary().items()
                   if k not in ("guideline_bands", "baseline")], columns=["item", "value"])
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
        if plan.timeline is not None:
            for name, table in plan.timeline.sheets().items():
                table.to_excel(xl, sheet_name=name[:31], index=False)
        for key in ("frontier", "guideline", "tornado", "uncertainty"):
            if analyses.get(key) is not None:
                analyses[key].table.to_excel(xl, sheet_name=key, index=False)
        inputs.to_excel(xl, sheet_name="inputs", index=False)
        finish(xl, plan.currency, PLAN_SHEETS)


PLAN_SHEETS = {
    "summary": "the plan's figures: value (gross), spend, guideline penalties, the objective "
               "net of them, today's, each guideline band in words; the certificate",
    "plan": "one row per line: spend, shares, outcome, unit cost, value, ROAS, marginals "
            "(marginal_return: what the next unit of currency adds to the net objective)",
    "stages": "spend, share, outcome and unit cost per funnel stage",
    "platforms": "spend, share, value per platform",
    "constraints": "every constraint: where the plan sits (plan_at) against its limit, in "
                   "planner units; binding ones with their price",
    "frontier": "the optimum at other budgets", "guideline": "the objective as the "
    "guideline stage's share moves", "tornado": "how far each assumption moves the optimum",
    "uncertainty": "P10 / P50 / P90 of the plan's KPIs", "inputs": "the scenario's lines "
    "and curves as solved"}

COMPARISON_SHEETS = {"comparison": "metrics x variants, with each variant's change from "
                     "the base (value compared gross of guideline penalties)",
                     "spend by line": "spend per line and variant",
                     "variants": "what each variant changes"}

MONEY = ("spend", "baseline", "change", "value", "revenue", "min", "max", "min_if_active",
         "bound", "objective", "today", "budget", "penalty", "spend_outside")
SHARE = ("share", "share_of_total", "share_of_stage", "change_pct", "gap", "low", "high",
         "free_share", "p_")


def _format_for(name: str, currency: str) -> str | None:
    n = name.lower()
    if n.endswith("change %") or n in SHARE or n.startswith("share") or n.endswith("_pct"):
        return "0.0%"
    if n in ("roas", "marginal_roas", "x") or "roas" in n:
        return "0.00"
    if n in ("marginal_value", "marginal_return", "shadow_price", "price", "fitted_price",
             "measured_price"):
        return "0.0000"
    if n in ("unit_cost",) or n.endswith("cost"):
        return f'"{currency} "#,##0.00'
    if n in MONEY or n.endswith(" spend") or n.endswith("change"):
        return f'"{currency} "#,##0'
    if n in ("outcome", "plan", "p10", "p50", "p90"):
        return "#,##0"
    return None


def finish(xl: pd.ExcelWriter, currency: str, readme: dict[str, str]) -> None:
    """What finance needs to use the workbook: a README sheet first naming each sheet,
    number formats (currency, %, thousands) by column, no float noise (|x| < 1e-9 of the
    column's scale shown as 0), bold frozen headers, readable widths."""
    from openpyxl.styles import Font

    book = xl.book
    for sheet in book.worksheets:
        if sheet.title == "summary":  # item / value rows: the format follows the item
            _summary_formats(sheet, currency)
            continue
        rows = sheet.max_row
        for column in sheet.iter_cols(min_row=1, max_row=rows):
            head = column[0].value
            fmt = _format_for(str(head), currency) if head is not None else None
            numbers = [c.value for c in column[1:] if isinstance(c.value, float)]
            scale = max((abs(v) for v in numbers if v == v and abs(v) != float("inf")),
                        default=0.0)
            for cell in column[1:]:
                if isinstance(cell.value, float):
                    if cell.value != cell.value:  # NaN: an empty cell, not the text 'nan'
                        cell.value = None
                        continue
                    if abs(cell.value) < 1e-9 * max(scale, 1.0):
                        cell.value = 0.0
                if fmt and isinstance(cell.value, (int, float)) \
                        and not isinstance(cell.value, bool):
                    cell.number_format = fmt
            column[0].font = Font(bold=True)
        sheet.freeze_panes = "B2" if sheet.max_column > 1 else "A2"
    autofit_columns(xl)
    info = book.create_sheet("README", 0)
    info.append(["sheet", "what it holds"])
    info["A1"].font = info["B1"].font = Font(bold=True)
    for name in [ws.title for ws in book.worksheets if ws.title != "README"]:
        info.append([name, readme.get(name, "")])
    info.append([])
    info.append(["amounts", f"in {currency}; shares as %; ROAS as a ratio"])
    info.column_dimensions["A"].width = 16
    info.column_dimensions["B"].width = 110
    info.freeze_panes = "A2"


def _summary_formats(sheet, currency: str) -> None:
    from openpyxl.styles import Font

    for item, value in sheet.iter_rows(min_row=2, max_col=2):
        name = str(item.value)
        if not isinstance(value.value, (int, float)) or isinstance(value.value, bool):
            continue
        if "gap" in name:
            value.number_format = "0.000%"
        elif name in ("seconds",):
            value.number_format = "0.00"
        elif name in ("refinement_rounds",):
            value.number_format = "0"
        elif name.startswith("conversions") or name.startswith("today: conversions"):
            value.number_format = "#,##0.0"
        else:
            value.number_format = f'"{currency} "#,##0.00' if currency in name or name in (
                "objective_value", "bound", "total_spend", "baseline_objective", "value",
                "spend", "earned", "guideline_penalties", "objective_net") \
                or "objective" in name else "#,##0.00"
    sheet["A1"].font = sheet["B1"].font = Font(bold=True)
    sheet.freeze_panes = "A2"


def autofit_columns(xl: pd.ExcelWriter) -> None:
    """Readable column widths on every sheet (openpyxl has no auto-fit)."""
    for sheet in xl.book.worksheets:
        for column in sheet.columns:
            width = max(len(str(c.value)) if c.value is not None else 0 for c in column)
            width = max((len(f"{c.value:,.2f}") if isinstance(c.value, float)
                         else len(str(c.value)) if c.value is not None else 0)
                        for c in column)
            sheet.column_dimensions[column[0].column_letter].width = min(max(10, width + 2),
                                                                          50)


def write_comparison_workbook(cmp: Comparison, path: Path) -> None:
    """comparison.xlsx: the comparison, spend by line, the variants."""
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        cmp.wide().to_excel(xl, sheet_name="comparison", index=False)
        line_spend(cmp).to_excel(xl, sheet_name="spend by line", index=False)
        pd.DataFrame([{"variant": v.label, "description": v.description,
                       "changes": v.changes} for v in cmp.variants]).to_excel(
            xl, sheet_name="variants", index=False)
        finish(xl, cmp.currency, COMPARISON_SHEETS)
