"""CSV: plan.csv (one row per line) and comparison.csv (metrics x variants)."""

from __future__ import annotations

from pathlib import Path

from ..analysis.compare import Comparison
from ..plan import Plan

__all__ = ["write_plan_csv", "write_comparison_csv"]


def write_plan_csv(plan: Plan, path: Path) -> None:
    plan.lines.to_csv(path, index=False)


def write_comparison_csv(cmp: Comparison, path: Path) -> None:
    cmp.wide().to_csv(path, index=False)
