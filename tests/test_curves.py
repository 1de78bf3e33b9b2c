"""Curve families against closed forms, finite differences and their inverses."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocator import curves

X = np.array([0.0, 1.0, 500.0, 10_000.0, 37_000.0, 250_000.0])

CASES = [
    (curves.Hill(1000, 20_000, 1.0), lambda x: 1000 * x / (20_000 + x)),
    (curves.Hill(1000, 20_000, 2.5), lambda x: 1000 * x**2.5 / (20_000**2.5 + x**2.5)),
    (curves.Hill(800, 5_000, 0.7), lambda x: 800 * x**0.7 / (5_000**0.7 + x**0.7)),
    (curves.Exponential(5e5, 40_000), lambda x: 5e5 * (1 - math.exp(-x / 40_000))),
    (curves.Power(300.0, 0.6), lambda x: 300 * x**0.6),
    (curves.Log(2000.0, 8_000), lambda x: 2000 * math.log(1 + x / 8_000)),
    (curves.Linear(0.5, 30_000), lambda x: min(x / 0.5, 30_000)),
    (curves.Points((0, 10_000, 30_000), (0, 500, 900)), lambda x: float(
        np.interp(x, [0, 10_000, 30_000], [0, 500, 900]))),
]


@pytest.mark.parametrize("curve,closed", CASES, ids=lambda c: getattr(c, "family", ""))
def test_value_matches_closed_form(curve, closed):
    expected = np.array([closed(x) for x in X])
    np.testing.assert_allclose(curve.value(X), expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("curve,closed", CASES, ids=lambda c: getattr(c, "family", ""))
def test_derivative_matches_finite_differences(curve, closed):
    xs = np.array([700.0, 12_345.0, 60_000.0])
    if curve.family == "linear":
        xs = np.array([700.0, 12_345.0, 40_000.0])  # away from the cap's kink
    if curve.family == "points":
        xs = np.array([5_000.0, 20_000.0, 40_000.0])  # inside segments
    h = 1e-3
    fd = (np.array([closed(x + h) for x in xs]) - np.array([closed(x - h) for x in xs])) / (2 * h)
    np.testing.assert_allclose(curve.derivative(xs), fd, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("curve,closed", CASES, ids=lambda c: getattr(c, "family", ""))
def test_inverse_round_trips(curve, closed):
    xs = np.array([0.0, 900.0, 15_000.0])
    np.testing.assert_allclose(curve.inverse(curve.value(xs)), xs, rtol=1e-9, atol=1e-6)


def test_inverse_beyond_saturation_is_infinite():
    assert np.isinf(curves.Hill(100, 10, 2).inverse(100.0))
    assert np.isinf(curves.Exponential(100, 10).inverse(150.0))
    assert np.isinf(curves.Linear(1.0, 50).inverse(60.0))
    assert np.isinf(curves.Points((0, 1), (0, 5)).inverse(6.0))


def test_concavity_flags():
    assert curves.Hill(1, 1, 1).concave and curves.Hill(1, 1, 0.5).concave
    assert not curves.Hill(1, 1, 1.01).concave
    assert curves.Points((0, 1, 2), (0, 2, 3)).concave
    assert not curves.Points((0, 1, 2), (0, 1, 3)).concave
    for c in (curves.Exponential(1, 1), curves.Power(1, 0.5), curves.Log(1, 1),
              curves.Linear(1)):
        assert c.concave


@given(st.floats(0.1, 5.0), st.floats(1.0, 1e6), st.floats(1.0, 1e5))
def test_concave_curves_have_falling_marginal_return(s, k, x):
    c = curves.Hill(1000.0, k, s)
    d1, d2 = c.derivative(x), c.derivative(x * 1.5)
    if s <= 1:
        assert d2 <= d1 * (1 + 1e-12)
    elif x >= c.inflection:
        assert d2 <= d1 * (1 + 1e-12)


def test_hill_inflection_is_where_the_slope_peaks():
    c = curves.Hill(1000, 20_000, 2.0)
    xs = np.linspace(1, 60_000, 200_001)
    assert abs(xs[np.argmax(c.derivative(xs))] - c.inflection) < 1.0


@pytest.mark.parametrize("per,cost,at,rise", [(1000, 6.5, 40_000, 0.2), (1, 0.55, 5_000, 0.35),
                                              (1, 110.0, 12_000, 0.0), (1000, 28.0, 1, 0.9)])
def test_unit_cost_rise_reproduces_quoted_cost_exactly(per, cost, at, rise):
    c = curves.from_unit_cost_rise(cost, at, rise, per)
    assert c.unit_cost(at, per) == pytest.approx(cost, rel=1e-12)
    # doubling spend raises the unit cost by exactly the stated fraction
    assert c.unit_cost(2 * at, per) / c.unit_cost(at, per) == pytest.approx(1 + rise, rel=1e-12)
    assert c.concave


@pytest.mark.parametrize("per,cost,sat", [(1, 0.6, 50_000), (1000, 7.0, 9e6), (1, 18, 900)])
def test_unit_cost_saturation_starts_at_quoted_cost(per, cost, sat):
    c = curves.from_unit_cost_saturation(cost, sat, per)
    # the first outcomes cost the quoted unit cost: slope at zero = per / cost
    assert c.derivative(0.0) == pytest.approx(per / cost, rel=1e-12)
    assert c.unit_cost(1e-6, per) == pytest.approx(cost, rel=1e-6)
    assert c.value(1e12) == pytest.approx(sat, rel=1e-9)


def test_vectorised_over_parameters():
    vmax = np.array([100.0, 200.0, 300.0])
    out = curves.hill_value(np.array([10.0, 20.0, 30.0]), vmax, np.array([10.0, 20.0, 30.0]), 2.0)
    np.testing.assert_allclose(out, vmax / 2)


def test_huge_spend_stays_finite():
    for c in (curves.Hill(1e6, 10.0, 3.0), curves.Exponential(1e6, 10.0)):
        assert np.isfinite(c.value(1e15)) and np.isfinite(c.derivative(1e15))


@pytest.mark.parametrize("curve,closed", CASES, ids=lambda c: getattr(c, "family", ""))
def test_scaled_curve_is_outcome_times_f_of_spend_over_cost(curve, closed):
    g = curves.scaled(curve, outcome=1.3, cost=0.8)
    xs = np.array([0.0, 900.0, 15_000.0])
    np.testing.assert_allclose(g.value(xs), 1.3 * curve.value(xs / 0.8), rtol=1e-12)
    assert type(g) is type(curve)
