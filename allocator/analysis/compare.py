"""Variants side by side: each solved and certified as `plan` would, then tabulated against
the base (the first column) in currency and per cent.

The comparison is a long table, one row per metric: totals, each stage's spend, share,
KPI and unit cost, each platform's spend and share, revenue, ROAS, objective and gap.
Nothing here draws or writes files (see `allocator.outputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..plan import Plan, plan_scenario
from ..variants import Variant

__all__ = ["Comparison", "compare_variants", "line_spend", "tabulate"]


@dataclass
class Comparison:
    variants: list[Variant]
    plans: list[Plan]
    table: pd.DataFrame  # section, metric, unit, then one column per variant

    @property
    def labels(self) -> list[str]:
        return [v.label for v in self.variants]

    @property
    def currency(self) -> str:
        return self.plans[0].currency

    def differences(self) -> pd.DataFrame:
        """Each variant minus the base, per metric, in the metric's unit and in per cent."""
        base = self.table[self.labels[0]]
        out = self.table[["section", "metric", "unit"]].copy()
        for label in self.labels[1:]:
            out[f"{label} change"] = self.table[label] - base
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"{label} change %"] = np.where(base.abs() > 0, (self.table[label] - base)
                                                    / base.abs(), np.nan)
        return out

    def wide(self) -> pd.DataFrame:
        """Values and differences in one table (CSV, JSON, the workbook)."""
        diff = self.differences()
        return pd.concat([self.table, diff.drop(columns=["section", "metric", "unit"])], axis=1)

    def objective(self) -> tuple[str, np.ndarray]:
        """The figure compared, by its name, per variant: the value a planner means (value,
        revenue, conversions; profit for a profit goal), gross of guideline penalties."""
        row = self.table[self.table["section"] == "total"].iloc[1]  # after total spend
        return row["metric"], row[self.labels].to_numpy(dtype=float)

    def spend(self, by: str) -> pd.DataFrame:
        """Spend per stage or platform (`by`; rows) and variant (columns)."""
        rows = self.table[(self.table["section"] == by)
                          & self.table["metric"].str.endswith(" spend")]
        return rows.set_index(rows["metric"].str.removesuffix(" spend"))[self.labels]


def _metrics(plan: Plan, stages: list[str], platforms: list[str]) -> list[tuple]:
    """(section, metric, unit, value) for one plan, in the comparison's row order."""
    cur, sc = plan.currency, plan.scenario
    s = plan.solution
    total = plan.total_spend
    st = plan.stages.set_index("stage")
    pf = plan.platforms.set_index("platform")
    revenue = float(plan.lines["revenue"].sum())
    acc = plan.accounting
    banded = bool(acc.bands)  # hard bands too: their penalty is 0, said as 0
    # the figure compared first (`Comparison.objective`) is the one a planner means: the
    # value (or profit, or conversions), never net of guideline penalties unless said
    rows = [("total", "spend", cur, total),
            ("total", acc.earned_label, "", acc.earned)]
    if acc.earned_label != acc.value_label:
        rows.append(("total", acc.value_label, "", acc.value))
    if banded:
        rows += [("total", "guideline penalties", cur, acc.penalties),
                 ("total", "objective net of penalties", "", plan.shown(acc.objective))]
    rows += [("total", "revenue", cur, revenue),
            ("total", "ROAS", "x", revenue / total if total > 0 and revenue > 0 else np.nan)]
    for stage in stages:
        spec = sc.stages.get(stage)
        r = st.loc[stage] if stage in st.index else None
        spend = float(r["spend"]) if r is not None else 0.0
        outcome = float(r["outcome"]) if r is not None else 0.0
        per = spec.per if spec else 1.0
        rows += [("stage", f"{stage} spend", cur, spend),
                 ("stage", f"{stage} share", "%", spend / total if total > 0 else np.nan),
                 ("stage", f"{stage} {spec.kpi if spec else 'outcome'}", "", outcome),
                 ("stage", f"{stage} {spec.unit_cost_label if spec else 'unit cost'}", cur,
                  spend * per / outcome if outcome > 0 else np.nan)]
    for platform in platforms:
        spend = float(pf.loc[platform, "spend"]) if platform in pf.index else 0.0
        rows += [("platform", f"{platform} spend", cur, spend),
                 ("platform", f"{platform} share", "%", spend / total if total > 0 else np.nan)]
    if plan.timeline is not None:  # a plan over periods: the phasing and what carries over
        per = plan.timeline.periods
        for r in per.itertuples():
            if r.in_plan:
                rows += [("period", f"{r.period} spend", cur, r.spend)]
            rows += [("period", f"{r.period} value", cur, r.value)]
        rows += [("period", "value from carryover", cur,
                  float(per["value_from_earlier_periods"].sum()
                        + per["value_from_before_the_plan"].sum()))]
    rows += [("certificate", "bound on the objective (net)", "", plan.shown(s.bound)),
             ("certificate", "gap", "gap", s.gap)]
    base = plan.baseline_accounting
    if base is not None:  # today's spend, valued under each variant's own assumptions
        rows += [("today", f"today: {base.earned_label}", "", base.earned),
                 ("today", "today: spend", cur, base.spend)]
    return rows


def _ordered_union(lists: list[list[str]]) -> list[str]:
    out: list[str] = []
    for items in lists:
        out += [i for i in items if i not in out]
    return out


def tabulate(variants: list[Variant], plans: list[Plan]) -> Comparison:
    stages = _ordered_union([list(p.scenario.stages) for p in plans])
    stages = [s for s in stages if any(s in set(p.lines["stage"]) for p in plans)]
    platforms = _ordered_union([list(p.lines["platform"].unique()) for p in plans])
    values: dict[tuple, dict[str, float]] = {}  # (section, metric, unit) -> label -> value
    for v, plan in zip(variants, plans, strict=True):
        for section, metric, unit, value in _metrics(plan, stages, platforms):
            values.setdefault((section, metric, unit), {})[v.label] = value
    table = pd.DataFrame([{"section": k[0], "metric": k[1], "unit": k[2], **row}
                          for k, row in values.items()],
                         columns=["section", "metric", "unit", *[v.label for v in variants]])
    return Comparison(variants, plans, table)


def compare_variants(variants: list[Variant], *, progress: Callable[[str], None] | None = None,
                     scheduler=None, **solve_options) -> Comparison:
    """Solve every variant: the base first, here; then the others, warm-started from the
    base (faster, never a different certified answer), as tasks on the executor
    (`analysis.pool`: `scheduler`, else ALLOCATOR_SCHEDULER, else in-process for a few
    variants and a LocalCluster for many). Tasks ship Problems and return Solutions."""
    from ..plan import make_plan
    from ..problem import compile_problem
    from .pool import executor, solve_seconds, start

    base = plan_scenario(variants[0].scenario, **solve_options)
    if progress:
        progress(variants[0].label)
    # the solver ignores a warm start with other lines (another file)
    problems = [compile_problem(v.scenario) for v in variants[1:]]
    work = len(problems) * solve_seconds(base.problem, base.solution)
    reported = 1

    def tick(done: int) -> None:
        nonlocal reported
        for v in variants[reported:done + 1]:
            progress(v.label)  # one more variant solved
        reported = done + 1

    with executor(scheduler, work=work):
        solutions = start(_solve_all, problems, base.solution, solve_options, chunk=1,
                          work=work).result(tick if progress else None)
    plans = [base] + [make_plan(v.scenario, p, s) for v, p, s in
                      zip(variants[1:], problems, solutions, strict=True)]
    return tabulate(variants, plans)


def _solve_all(problems: list, warm, options: dict) -> list:
    from ..solve import solve

    return [solve(p, warm=warm, **options) for p in problems]


def line_spend(cmp: Comparison) -> pd.DataFrame:
    """Spend per line (rows) and variant (columns)."""
    out = None
    for label, plan in zip(cmp.labels, cmp.plans, strict=True):
        df = plan.lines[["line", "stage", "platform", "spend"]].rename(columns={"spend": label})
        out = df if out is None else out.merge(df, on=["line", "stage", "platform"],
                                               how="outer", sort=False)
    return out.fillna(0.0)
