"""Response curves: spend (currency) -> outcome (the stage's KPI), vectorised with numpy.

Each family is written once, as functions of spend and parameter arrays, so that a single
curve, a whole vector of lines of one family (the solver) and a Monte Carlo draw all use
the same formula. `Curve` objects wrap one parameter set for readable code and tests.

Families (DESIGN.md, "The model"):
    hill         vmax x^s / (k^s + x^s)        concave when s <= 1, S-shaped when s > 1
    exponential  vmax (1 - exp(-x / k))        concave
    power        a x^b, 0 < b <= 1             concave
    log          a ln(1 + x / k)               concave
    linear       x / unit_cost, capped at cap  concave
    points       monotone piecewise-linear through (spend, outcome) points

Planner parameterisations compile to these: `from_unit_cost_rise` (unit cost C at spend S,
doubling spend raises the unit cost by r) gives a power curve; `from_unit_cost_saturation`
(unit cost C at the start, saturating at N outcomes) gives an exponential one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Curve",
    "Hill",
    "Exponential",
    "Power",
    "Log",
    "Linear",
    "Points",
    "from_unit_cost_rise",
    "from_unit_cost_saturation",
    "FAMILIES",
    "CurveBank",
    "scaled",
]

Array = NDArray[np.float64]


def _arr(x: ArrayLike) -> Array:
    return np.asarray(x, dtype=np.float64)


# --- family formulas: value, derivative, inverse on arrays --------------------------------


def hill_value(x: ArrayLike, vmax: ArrayLike, k: ArrayLike, s: ArrayLike) -> Array:
    x = np.maximum(_arr(x), 0.0)
    # x^s / (k^s + x^s) written as 1 / (1 + (k/x)^s) to stay finite for large x
    with np.errstate(divide="ignore", over="ignore"):
        ratio = np.where(x > 0, np.power(_arr(k) / np.where(x > 0, x, 1.0), s), np.inf)
    return _arr(vmax) / (1.0 + ratio)


def hill_derivative(x: ArrayLike, vmax: ArrayLike, k: ArrayLike, s: ArrayLike) -> Array:
    x = np.maximum(_arr(x), 0.0)
    k, s, vmax = _arr(k), _arr(s), _arr(vmax)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        u = np.power(np.where(x > 0, x, 1.0) / k, s)  # (x/k)^s
        d = vmax * s * u / (np.where(x > 0, x, 1.0) * (1.0 + u) ** 2)
        d = np.where(np.isfinite(d), d, 0.0)
    # at x = 0 the slope is vmax/k when s == 1, infinite when s < 1, zero when s > 1
    at_zero = np.where(s < 1, np.inf, np.where(s == 1, vmax / k, 0.0))
    return np.where(x > 0, d, at_zero)


def hill_inverse(y: ArrayLike, vmax: ArrayLike, k: ArrayLike, s: ArrayLike) -> Array:
    y, vmax = _arr(y), _arr(vmax)
    frac = np.clip(y / vmax, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return _arr(k) * np.power(frac / (1.0 - frac), 1.0 / _arr(s))


def exponential_value(x: ArrayLike, vmax: ArrayLike, k: ArrayLike) -> Array:
    return _arr(vmax) * -np.expm1(-np.maximum(_arr(x), 0.0) / _arr(k))


def exponential_derivative(x: ArrayLike, vmax: ArrayLike, k: ArrayLike) -> Array:
    k = _arr(k)
    return _arr(vmax) / k * np.exp(-np.maximum(_arr(x), 0.0) / k)


def exponential_inverse(y: ArrayLike, vmax: ArrayLike, k: ArrayLike) -> Array:
    frac = np.clip(_arr(y) / _arr(vmax), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return -_arr(k) * np.log1p(-frac)


def power_value(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    return _arr(a) * np.power(np.maximum(_arr(x), 0.0), _arr(b))


def power_derivative(x: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    x, a, b = np.maximum(_arr(x), 0.0), _arr(a), _arr(b)
    with np.errstate(divide="ignore"):
        return np.where(x > 0, a * b * np.power(np.where(x > 0, x, 1.0), b - 1.0),
                        np.where(b < 1, np.inf, a))


def power_inverse(y: ArrayLike, a: ArrayLike, b: ArrayLike) -> Array:
    return np.power(np.maximum(_arr(y), 0.0) / _arr(a), 1.0 / _arr(b))


def log_value(x: ArrayLike, a: ArrayLike, k: ArrayLike) -> Array:
    return _arr(a) * np.log1p(np.maximum(_arr(x), 0.0) / _arr(k))


def log_derivative(x: ArrayLike, a: ArrayLike, k: ArrayLike) -> Array:
    return _arr(a) / (_arr(k) + np.maximum(_arr(x), 0.0))


def log_inverse(y: ArrayLike, a: ArrayLike, k: ArrayLike) -> Array:
    return _arr(k) * np.expm1(np.maximum(_arr(y), 0.0) / _arr(a))


def linear_value(x: ArrayLike, cost_per_outcome: ArrayLike, cap: ArrayLike = np.inf) -> Array:
    return np.minimum(np.maximum(_arr(x), 0.0) / _arr(cost_per_outcome), _arr(cap))


def linear_derivative(x: ArrayLike, cost_per_outcome: ArrayLike,
                      cap: ArrayLike = np.inf) -> Array:
    x, c = np.maximum(_arr(x), 0.0), _arr(cost_per_outcome)
    return np.where(x < _arr(cap) * c, 1.0 / c, 0.0)


def linear_inverse(y: ArrayLike, cost_per_outcome: ArrayLike, cap: ArrayLike = np.inf) -> Array:
    y = _arr(y)
    return np.where(y <= _arr(cap), np.maximum(y, 0.0) * _arr(cost_per_outcome), np.inf)


# --- curve objects --------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    """One response curve: outcome as a function of spend."""

    family: ClassVar[str] = ""

    def value(self, x: ArrayLike) -> Array:
        raise NotImplementedError

    def derivative(self, x: ArrayLike) -> Array:
        raise NotImplementedError

    def inverse(self, y: ArrayLike) -> Array:
        """Spend needed for outcome y (inf where the curve never reaches y)."""
        raise NotImplementedError

    @property
    def concave(self) -> bool:
        return True

    @property
    def saturation(self) -> float:
        """The outcome the curve approaches as spend grows (inf when unbounded)."""
        return math.inf

    def unit_cost(self, x: ArrayLike, per: float = 1.0) -> Array:
        """Average cost per `per` outcomes at spend x (CPM with per=1000, CPC, CPA)."""
        x = _arr(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x > 0, per * x / self.value(x), np.nan)


@dataclass(frozen=True)
class Hill(Curve):
    vmax: float
    k: float
    s: float = 1.0
    family: ClassVar[str] = "hill"

    def value(self, x: ArrayLike) -> Array:
        return hill_value(x, self.vmax, self.k, self.s)

    def derivative(self, x: ArrayLike) -> Array:
        return hill_derivative(x, self.vmax, self.k, self.s)

    def inverse(self, y: ArrayLike) -> Array:
        return hill_inverse(y, self.vmax, self.k, self.s)

    @property
    def concave(self) -> bool:
        return self.s <= 1.0

    @property
    def saturation(self) -> float:
        return self.vmax

    @property
    def inflection(self) -> float:
        """Spend where the marginal return peaks (0 for concave curves)."""
        if self.s <= 1:
            return 0.0
        return self.k * ((self.s - 1) / (self.s + 1)) ** (1 / self.s)


@dataclass(frozen=True)
class Exponential(Curve):
    vmax: float
    k: float
    family: ClassVar[str] = "exponential"

    def value(self, x: ArrayLike) -> Array:
        return exponential_value(x, self.vmax, self.k)

    def derivative(self, x: ArrayLike) -> Array:
        return exponential_derivative(x, self.vmax, self.k)

    def inverse(self, y: ArrayLike) -> Array:
        return exponential_inverse(y, self.vmax, self.k)

    @property
    def saturation(self) -> float:
        return self.vmax


@dataclass(frozen=True)
class Power(Curve):
    a: float
    b: float
    family: ClassVar[str] = "power"

    def value(self, x: ArrayLike) -> Array:
        return power_value(x, self.a, self.b)

    def derivative(self, x: ArrayLike) -> Array:
        return power_derivative(x, self.a, self.b)

    def inverse(self, y: ArrayLike) -> Array:
        return power_inverse(y, self.a, self.b)

    @property
    def concave(self) -> bool:
        return self.b <= 1.0


@dataclass(frozen=True)
class Log(Curve):
    a: float
    k: float
    family: ClassVar[str] = "log"

    def value(self, x: ArrayLike) -> Array:
        return log_value(x, self.a, self.k)

    def derivative(self, x: ArrayLike) -> Array:
        return log_derivative(x, self.a, self.k)

    def inverse(self, y: ArrayLike) -> Array:
        return log_inverse(y, self.a, self.k)


@dataclass(frozen=True)
class Linear(Curve):
    cost_per_outcome: float
    cap: float = math.inf
    family: ClassVar[str] = "linear"

    def value(self, x: ArrayLike) -> Array:
        return linear_value(x, self.cost_per_outcome, self.cap)

    def derivative(self, x: ArrayLike) -> Array:
        return linear_derivative(x, self.cost_per_outcome, self.cap)

    def inverse(self, y: ArrayLike) -> Array:
        return linear_inverse(y, self.cost_per_outcome, self.cap)

    @property
    def saturation(self) -> float:
        return self.cap


@dataclass(frozen=True)
class Points(Curve):
    """Monotone piecewise-linear through planner-given points; flat beyond the last one."""

    spend: tuple[float, ...]
    outcome: tuple[float, ...]
    _slopes: tuple[float, ...] = field(init=False, repr=False, compare=False)
    family: ClassVar[str] = "points"

    def __post_init__(self) -> None:
        xs, ys = _arr(self.spend), _arr(self.outcome)
        if xs[0] != 0.0:  # the curve starts at (0, 0): no spend buys nothing
            xs, ys = np.r_[0.0, xs], np.r_[0.0, ys]
            object.__setattr__(self, "spend", tuple(xs))
            object.__setattr__(self, "outcome", tuple(ys))
        object.__setattr__(self, "_slopes", tuple(np.diff(ys) / np.diff(xs)))

    def value(self, x: ArrayLike) -> Array:
        return np.interp(np.maximum(_arr(x), 0.0), self.spend, self.outcome)

    def derivative(self, x: ArrayLike) -> Array:
        # right derivative: the slope of the segment that starts at or before x
        x = np.maximum(_arr(x), 0.0)
        idx = np.searchsorted(self.spend, x, side="right") - 1
        slopes = np.r_[self._slopes, 0.0]
        return slopes[np.clip(idx, 0, len(slopes) - 1)]

    def inverse(self, y: ArrayLike) -> Array:
        y = _arr(y)
        ys = _arr(self.outcome)
        # first spend reaching y: left-most point of a flat stretch
        out = np.interp(y, ys, self.spend, right=np.inf)
        return np.where(y > ys[-1], np.inf, out)

    @property
    def concave(self) -> bool:
        return bool(np.all(np.diff(self._slopes) <= 1e-12))

    @property
    def saturation(self) -> float:
        return self.outcome[-1]


FAMILIES: dict[str, type[Curve]] = {
    cls.family: cls for cls in (Hill, Exponential, Power, Log, Linear, Points)
}


# --- planner parameterisations --------------------------------------------------------------


def from_unit_cost_rise(
    unit_cost: float, at_spend: float, rise_per_doubling: float, per: float = 1.0
) -> Power:
    """A power curve whose unit cost is `unit_cost` (per `per` outcomes) at `at_spend` and
    rises by the fraction `rise_per_doubling` each time spend doubles.

    Unit cost c(x) = x / (a x^b) grows as x^(1-b); doubling multiplies it by 2^(1-b) = 1 + r,
    so b = 1 - log2(1 + r), and a follows from c(at_spend) = unit_cost.
    """
    b = 1.0 - math.log2(1.0 + rise_per_doubling)
    a = per * at_spend ** (1.0 - b) / unit_cost
    return Power(a=a, b=b)


def from_unit_cost_saturation(unit_cost: float, saturation: float, per: float = 1.0) -> Exponential:
    """An exponential curve whose first outcomes cost `unit_cost` (per `per` outcomes) and
    which approaches `saturation` outcomes: slope at zero vmax / k = per / unit_cost."""
    return Exponential(vmax=saturation, k=saturation * unit_cost / per)


# --- a bank of curves: many lines evaluated at once, grouped by family ---------------------

_PARAMS: dict[str, tuple[str, ...]] = {
    "hill": ("vmax", "k", "s"),
    "exponential": ("vmax", "k"),
    "power": ("a", "b"),
    "log": ("a", "k"),
    "linear": ("cost_per_outcome", "cap"),
}
_VALUE = {"hill": hill_value, "exponential": exponential_value, "power": power_value,
          "log": log_value, "linear": linear_value}
_DERIVATIVE = {"hill": hill_derivative, "exponential": exponential_derivative,
               "power": power_derivative, "log": log_derivative, "linear": linear_derivative}


def _marginal_inverse(family: str, t: Array, p: dict[str, Array]) -> Array:
    """Spend at which the slope f'(x) falls to t, for concave families (0 if it starts below t,
    inf if it never gets there). Closed forms where they exist."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if family == "exponential":
            x = p["k"] * np.log(p["vmax"] / (p["k"] * t))
        elif family == "power":
            b = p["b"]
            x = np.where(b < 1, np.power(t / (p["a"] * b), 1.0 / (b - 1.0)),
                         np.where(p["a"] > t, np.inf, 0.0))
        elif family == "log":
            x = p["a"] / t - p["k"]
        elif family == "linear":
            x = np.where(1.0 / p["cost_per_outcome"] > t, p["cap"] * p["cost_per_outcome"], 0.0)
        elif family == "hill":
            vmax, k, s = p["vmax"], p["k"], p["s"]
            if np.all(s == 1.0):
                x = np.sqrt(vmax * k / t) - k
            else:  # s < 1: no closed form; bisection on log-spend, f' falls monotonically
                lo_, hi_ = np.full_like(t, -60.0), np.full_like(t, 60.0)
                for _ in range(110):
                    mid = 0.5 * (lo_ + hi_)
                    above = hill_derivative(np.exp(mid) * k, vmax, k, s) > t
                    lo_, hi_ = np.where(above, mid, lo_), np.where(above, hi_, mid)
                x = np.exp(0.5 * (lo_ + hi_)) * k
        else:
            raise ValueError(family)
    x = np.where(t <= 0, np.inf, x)
    return np.where(np.isnan(x), 0.0, np.maximum(x, 0.0))


class CurveBank:
    """Many curves as parameter arrays grouped by family: the vectorised form of a plan's lines.

    Built from Curve objects or straight from arrays (`from_arrays`) when there are millions.
    """

    def __init__(self, n: int, groups: list[tuple[str, Array, dict[str, Array]]],
                 points: dict[int, Points] | None = None):
        self.n = n
        self.groups = groups
        self.points = points or {}

    @classmethod
    def from_curves(cls, items: list[Curve]) -> CurveBank:
        by_family: dict[str, list[int]] = {}
        points: dict[int, Points] = {}
        for i, c in enumerate(items):
            if isinstance(c, Points):
                points[i] = c
            else:
                by_family.setdefault(c.family, []).append(i)
        groups = []
        for fam, idx in by_family.items():
            params = {name: np.array([getattr(items[i], name) for i in idx], dtype=float)
                      for name in _PARAMS[fam]}
            groups.append((fam, np.array(idx), params))
        bank = cls(len(items), groups, points)
        bank._curves = list(items)
        return bank

    @classmethod
    def from_arrays(cls, family: str, **params: ArrayLike) -> CurveBank:
        arrays = {k: _arr(v) for k, v in params.items()}
        n = len(next(iter(arrays.values())))
        return cls(n, [(family, np.arange(n), arrays)])

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Curve:
        curves_ = getattr(self, "_curves", None)
        if curves_ is not None:
            return curves_[i]
        if i in self.points:
            return self.points[i]
        for fam, idx, params in self.groups:
            pos = np.searchsorted(idx, i)
            if pos < len(idx) and idx[pos] == i:
                return FAMILIES[fam](**{k: float(v[pos]) for k, v in params.items()})
        raise IndexError(i)

    def _map(self, table: dict, x: Array, point_fn: str) -> Array:
        out = np.empty(self.n)
        for fam, idx, params in self.groups:
            out[idx] = table[fam](x[idx], **params)
        for i, c in self.points.items():
            out[i] = getattr(c, point_fn)(x[i])
        return out

    def value(self, x: ArrayLike) -> Array:
        return self._map(_VALUE, _arr(x), "value")

    def derivative(self, x: ArrayLike) -> Array:
        return self._map(_DERIVATIVE, _arr(x), "derivative")

    def marginal_inverse(self, t: ArrayLike) -> Array:
        """Per line, the spend where the slope falls to t[i] (concave curves only)."""
        t = _arr(t)
        out = np.empty(self.n)
        for fam, idx, params in self.groups:
            out[idx] = _marginal_inverse(fam, t[idx], params)
        for i, c in self.points.items():
            slopes = np.r_[c._slopes, 0.0]
            steep = np.flatnonzero(slopes > t[i])  # segments still worth buying
            out[i] = c.spend[steep[-1] + 1] if len(steep) else 0.0
        return out

    @property
    def concave(self) -> Array:
        out = np.ones(self.n, dtype=bool)
        for fam, idx, params in self.groups:
            if fam == "hill":
                out[idx] = params["s"] <= 1.0
        for i, c in self.points.items():
            out[i] = c.concave
        return out


def scaled(curve: Curve, *, outcome: float = 1.0, cost: float = 1.0) -> Curve:
    """The same curve with its response multiplied by `outcome` and its unit cost by `cost`
    (g(x) = outcome * f(x / cost)), in its own family so that it stays vectorised."""
    if isinstance(curve, Hill):
        return Hill(curve.vmax * outcome, curve.k * cost, curve.s)
    if isinstance(curve, Exponential):
        return Exponential(curve.vmax * outcome, curve.k * cost)
    if isinstance(curve, Power):
        return Power(curve.a * outcome * cost ** (-curve.b), curve.b)
    if isinstance(curve, Log):
        return Log(curve.a * outcome, curve.k * cost)
    if isinstance(curve, Linear):
        return Linear(curve.cost_per_outcome * cost / outcome, curve.cap * outcome)
    if isinstance(curve, Points):
        return Points(tuple(np.array(curve.spend) * cost), tuple(np.array(curve.outcome) * outcome))
    raise TypeError(f"cannot scale a {type(curve).__name__}")
