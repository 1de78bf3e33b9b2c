"""CSV: plan.csv (one row per line) and comparison.csv (metrics x variants)."""

from __future__ import annotations

from pathlib import Path

from ..analysis.compare import Comparison
from ..plan import Plan

__all__ = ["write_plan_csv", "write_comparison_csv"]


def write_plan_csv(plan: Plan, path: Path) -> None:
    """plan.csv; a plan over periods also gets plan_periods.csv (one row per period),
    plan_line_x_period.csv (long form) and plan_lines_x_periods.csv (the wide sheet)."""
    plan.lines.to_csv(path, index=False)
    if plan.timeline is not None:
        for name, table in plan.timeline.sheets().items():
            table.to_csv(path.with_name(f"plan_{name.replace(' ', '_')}.csv"), index=False)


def write_comparison_csv(cmp: Comparison, path: Path) -> None:
    cmp.wide().to_csv(path, index=False)
