"""The robust plan (mean and CVaR over sampled curves): exact CVaR, the certified optimum
against a brute-force search, never worse than the nominal plan on its own objective, and
every constraint of the scenario held on the stated curves."""

from __future__ import annotations

import numpy as np
import pytest

from allocator.analysis.robust import _sample_values, cvar, robust_plan, sample_factors
from allocator.analysis.suite import line_ranges
from allocator.plan import plan_scenario
from allocator.problem import violations
from allocator.scenario import load_scenario

from .conftest import ROOT


def test_cvar_is_the_rockafellar_uryasev_value():
    rng = np.random.default_rng(1)
    for size, alpha in ((10, 0.1), (37, 0.1), (50, 0.25), (9, 1.0)):
        v = rng.normal(size=size)
        # max over eta of eta - mean((eta - v)+) / alpha: attained at a sample value
        direct = max(eta - np.mean(np.maximum(0.0, eta - v)) / alpha for eta in v)
        assert cvar(v, alpha) == pytest.approx(direct, abs=1e-12)
    assert cvar(np.arange(10.0), 0.2) == pytest.approx(0.5)  # the worst two: 0 and 1


def test_robust_plan_is_the_optimum_of_a_two_line_search():
    """minimal.toml: two lines, the budget spent in full, so a plan is one split; a fine
    grid of splits is the oracle."""
    sc = load_scenario(ROOT / "scenarios" / "minimal.toml")
    plan = plan_scenario(sc)
    p = plan.solution.problem
    low, high = line_ranges(sc, 0.3)
    for risk in (0.5, 1.0):
        r = robust_plan(p, plan.solution, low, high, samples=40, alpha=0.1, risk=risk, seed=2)
        assert r.status == "optimal" and r.gap <= 1e-3
        factors = sample_factors(low, high, 40, 2)
        budget = p.budget_hi
        meta = np.linspace(budget - p.hi[1], min(p.hi[0], budget), 20001)
        best = max((1 - risk) * v.mean() + risk * cvar(v, 0.1) for v in
                   (_sample_values(p, np.array([m, budget - m]), factors) for m in meta))
        assert r.objective >= best - 1e-3 * abs(best)  # at least as good as the grid
        assert r.bound >= best - 1e-9 * abs(best)  # and the bound is above it
        nominal = r.table.set_index("plan")["robust objective"]
        assert nominal["robust"] >= nominal["nominal"] - 1e-9 * abs(nominal["nominal"])


@pytest.mark.parametrize("name", ["d2c_ecommerce.yaml", "b2b_saas_leads.yaml"])
def test_robust_plan_on_s_curves_and_constraints(name):
    """S-curves, thresholds, a pool, a CPA row, soft guidelines, target efficiency: the
    robust plan is certified and meets every constraint on the stated curves."""
    sc = load_scenario(ROOT / "scenarios" / name)
    plan = plan_scenario(sc)
    p = plan.solution.problem
    low, high = line_ranges(sc, 0.2)
    r = robust_plan(p, plan.solution, low, high, samples=30, risk=1.0, check_draws=200)
    assert r.status == "optimal", (r.gap, r.notes)
    assert not violations(p, r.x)
    t = r.table.set_index("plan")  # the nominal plan is one the robust search considered
    assert t.loc["robust", "CVaR 10%"] >= t.loc["nominal", "CVaR 10%"] - 1e-3 * abs(r.bound)
