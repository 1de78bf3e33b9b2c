"""Sensitivity analyses checked against independent re-solves; charts are real pictures."""

import numpy as np
import pytest

from allocator.analysis import budget_frontier, guideline_price, monte_carlo, tornado
from allocator.analysis.suite import SweepOptions, run_analyses
from allocator.outputs import charts
from allocator.plan import plan_scenario
from allocator.problem import compile_problem
from allocator.scenario import load_scenario, scenario_from_data
from allocator.solve import solve

from .conftest import ROOT


def small(**kw):
    lines = [
        {"name": "aw-meta", "stage": "awareness", "platform": "meta", "value_per_outcome": 0.01,
         "curve": {"type": "unit_cost_rise", "unit_cost": 6, "at_spend": 20000,
                   "rise_per_doubling": "30%"}},
        {"name": "aw-tiktok", "stage": "awareness", "platform": "tiktok",
         "value_per_outcome": 0.01,
         "curve": {"type": "unit_cost_rise", "unit_cost": 5, "at_spend": 10000,
                   "rise_per_doubling": "40%"}},
        {"name": "cv-meta", "stage": "conversion", "platform": "meta",
         "revenue_per_outcome": 60, "min_if_active": 3000,
         "curve": {"type": "hill", "vmax": 900, "k": 20000, "s": 1.5}},
    ]
    return scenario_from_data({"name": "small", "budget": 40_000,
                               "stages": ["awareness", "conversion"],
                               "platforms": ["meta", "tiktok"], "lines": lines, **kw})


def test_frontier_matches_separate_plans_and_never_falls():
    p = compile_problem(small())
    fr = budget_frontier(p, points=7)
    t = fr.table
    assert t["feasible"].all() and 40_000 in set(t["budget"])
    assert np.all(np.diff(t["objective"]) >= -1e-3 * t["objective"].abs().max())
    for budget in t["budget"].iloc[[0, 3, -1]]:
        alone = solve(p.with_budget(budget, budget))
        row = t[t["budget"] == budget].iloc[0]
        tol = (alone.bound - alone.objective) + (row["bound"] - row["objective"]) + 1e-6
        assert row["objective"] == pytest.approx(alone.objective, abs=tol)
        assert row["spend"] == pytest.approx(budget, rel=1e-6)


def test_frontier_with_a_ceiling_budget_stops_where_profit_does():
    p = compile_problem(small(budget={"max": 40_000}, objective="profit"))
    t = budget_frontier(p, points=5).table
    assert np.all(np.diff(t["objective"]) >= -1e-6 * t["objective"].abs().max())
    assert (t["spend"] <= t["budget"] + 1e-6).all()


def test_frontier_marks_target_and_breakeven():
    sc = load_scenario(ROOT / "scenarios" / "b2b_saas_leads.yaml")
    fr = budget_frontier(compile_problem(sc), points=5)
    assert fr.target_text and "CPA" in fr.target_text
    ok = fr.table[fr.table["feasible"]]
    met = ok[ok["target_ok"]]
    if fr.target_budget is not None:
        assert fr.target_budget in set(met["budget"])


def test_guideline_price_is_zero_when_the_free_optimum_is_inside_the_band():
    p = compile_problem(small())
    free = solve(p)
    share = float(free.x[:2].sum() / free.x.sum())
    band = (max(0.0, share - 0.1), min(1.0, share + 0.1))
    gp = guideline_price(p, band=band, shares=[0.3, 0.5, 0.7])
    assert gp.free_share == pytest.approx(share, abs=1e-3)
    assert gp.cost == pytest.approx(0.0, abs=1e-3 * abs(gp.free_objective))


def test_guideline_price_is_the_difference_of_two_solves():
    sc = small(constraints=[{"select": {"stage": "awareness"}, "share": {"min": 0.9}}])
    p = compile_problem(sc)
    gp = guideline_price(p, band=(0.9, 1.0), shares=[0.5, 0.9])
    free = solve(compile_problem(small()))
    assert gp.free_objective == pytest.approx(free.objective, rel=2e-3)
    banded = solve(p)
    assert gp.banded_objective == pytest.approx(banded.objective, rel=2e-3)
    assert gp.cost > 0 and gp.cost == pytest.approx(free.objective - banded.objective,
                                                     rel=0.05)
    fixed = gp.table.set_index("share")["objective"]
    assert fixed[0.9] <= gp.free_objective + 1e-6


def test_tornado_reoptimised_never_below_held_fixed_on_a_budget_only_problem():
    p = compile_problem(small())
    base = solve(p)
    tor = tornado(p, base, delta=0.2)
    assert len(tor.table) == 2 * p.n
    for side in ("low", "high"):
        slack = 2e-3 * abs(base.objective)
        assert (tor.table[f"{side}_reoptimised"] >= tor.table[f"{side}_fixed"] - slack).all()
    assert (tor.table["low_reoptimised"] <= base.objective + 1e-6).all()
    assert (tor.table["high_reoptimised"] >= base.objective - 2e-3 * base.objective).all()
    assert tor.table["swing"].is_monotonic_decreasing


def test_monte_carlo_is_seeded_and_collapses_without_spread():
    p = compile_problem(small())
    x = solve(p).x
    a = monte_carlo(p, x, np.full(p.n, 0.8), np.full(p.n, 1.2), draws=500, seed=3)
    b = monte_carlo(p, x, np.full(p.n, 0.8), np.full(p.n, 1.2), draws=500, seed=3)
    assert a.table.equals(b.table)
    row = a.table.set_index("kpi").loc["objective"]
    assert row["p10"] < row["plan"] < row["p90"]
    flat = monte_carlo(p, x, np.ones(p.n), np.ones(p.n), draws=50).table
    assert np.allclose(flat["p10"], flat["plan"]) and np.allclose(flat["p90"], flat["plan"])


def test_every_chart_is_a_real_picture(tmp_path):
    from matplotlib.image import imread

    sc = small(guidelines={"enforce": "soft", "penalty_per_point": 50,
                           "bands": {"conversion": {"min": 0.1, "max": 0.5}}})
    plan = plan_scenario(sc)
    analyses = run_analyses(sc, plan, options=SweepOptions(points=5, draws=200))
    figs = charts.all_charts(plan, analyses)
    assert set(figs) == {"allocation", "funnel", "response_curves", "frontier", "guideline",
                         "tornado", "uncertainty"}
    for name, fig in figs.items():
        ax = fig.axes[0]
        title = (fig._suptitle.get_text() if fig._suptitle is not None else "") or \
            ax.get_title(loc="left") or ax.get_title()
        assert len(title) > 20, name  # a title that says something
        png, svg = charts.save(fig, tmp_path / name)
        img = imread(png)
        assert img.shape[0] > 200 and img.shape[1] > 400
        assert img[..., :3].std() > 0.05, f"{name} looks blank"
        assert svg.read_text().startswith("<?xml")


def test_colours_are_stable_and_distinct():
    colours = charts.stage_colours(["awareness", "consideration", "conversion", "loyalty",
                                    "advocacy", "custom"])
    assert colours["awareness"] == charts.STAGE_COLOURS["awareness"]
    assert len(set(colours.values())) == 6
    plats = charts.platform_colours(["a", "b", "c"])
    assert len(set(plats.values())) == 3
