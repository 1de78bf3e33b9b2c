"""#14 leftovers: the frontier's next unit is the budget's price, stages in the scenario's
order, money ticks in one unit and precision, the uncertainty chart's title and legend,
violations in planner units."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from allocator.analysis.frontier import budget_frontier
from allocator.analysis.uncertainty import monte_carlo
from allocator.outputs import charts
from allocator.outputs.charts import MoneyTicks
from allocator.plan import plan_scenario
from allocator.problem import violations
from allocator.scenario import load_scenario, load_scenario_text

from .conftest import ROOT

MINIMAL = ROOT / "scenarios" / "minimal.toml"


@pytest.fixture(scope="module")
def minimal_plan():
    return plan_scenario(load_scenario(MINIMAL))


def test_frontier_next_unit_at_the_budget_is_the_budget_price(minimal_plan):
    plan = minimal_plan
    price = plan.constraints.set_index("constraint").loc["budget", "price"]
    fr = budget_frontier(plan.problem, points=3, base=plan.solution)
    assert fr.at(fr.current_budget)["marginal_value"] == pytest.approx(price, rel=1e-9)
    assert (np.diff(fr.table["marginal_value"]) < 0).all()  # concave: falling


def test_stages_and_platforms_in_the_scenario_order():
    text = textwrap.dedent("""\
        name: t
        budget: 10000
        stages: [awareness, consideration, conversion]
        platforms: [meta, tiktok]
        lines:
          - {name: c, stage: conversion, platform: tiktok, revenue_per_outcome: 60,
             curve: {type: hill, vmax: 300, k: 4000}}
          - {name: a, stage: awareness, platform: meta, value_per_outcome: 0.005,
             curve: {type: hill, vmax: 1000000, k: 5000}}
          - {name: b, stage: consideration, platform: meta, value_per_outcome: 0.5,
             curve: {type: hill, vmax: 10000, k: 5000}}
        """)
    plan = plan_scenario(load_scenario_text(text))
    assert plan.stages["stage"].tolist() == ["awareness", "consideration", "conversion"]
    assert plan.platforms["platform"].tolist() == ["meta", "tiktok"]


@pytest.mark.parametrize("ticks, labels", [
    ([20000, 22500, 25000, 27500, 30000], ["20.0k", "22.5k", "25.0k", "27.5k", "30.0k"]),
    ([0, 8000, 16000, 24000], ["0", "8k", "16k", "24k"]),
    ([1e6, 1.5e6, 2e6], ["1.0M", "1.5M", "2.0M"]),
    ([-5000, 0, 5000], ["-5k", "0", "5k"]),
    ([0, 0.5, 1.0], ["0", "0.5", "1.0"]),
    ([0, 200, 400, 1000], ["0", "200", "400", "1,000"]),
])
def test_money_ticks_one_unit_one_precision(ticks, labels):
    assert MoneyTicks().format_ticks(ticks) == labels


def test_uncertainty_title_names_the_value_and_legend_is_off_the_rows(minimal_plan):
    plan = minimal_plan
    p = plan.problem
    unc = monte_carlo(p, plan.solution.x, np.full(p.n, 0.8), np.full(p.n, 1.2), draws=200)
    fig = charts.uncertainty(unc)
    ax = fig.axes[0]
    value = unc.table.set_index("kpi").loc["value"]
    title = ax.get_title(loc="left")
    assert "the plan's value (gross" in title
    assert charts.money(value["p10"], unc.currency) in title
    assert ax.get_legend() is None and fig.legends
    charts.plt.close(fig)


def test_violations_in_planner_units(minimal_plan):
    p = minimal_plan.problem
    x = minimal_plan.solution.x * 0.5
    found = [v for v in violations(p, x) if v.startswith("budget")]
    total = float(p.budget_hi)
    assert found == [f"budget: {p.rows[0].text}: at {p.currency} {x.sum():,.0f} against "
                     f"{p.currency} {total:,.0f}, short by {p.currency} {total - x.sum():,.0f}"]
    assert "e+" not in found[0]
