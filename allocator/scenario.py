"""The scenario model: what a planner writes, validated and typed, with guideline presets resolved.

`load_scenario(path)` reads a YAML or TOML file and returns a `Scenario`, or raises a
`ScenarioError` that lists every mistake in the file at once, each with file, field path,
line number, the bad value and what would be right.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections import Counter
from enum import StrEnum
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import Problem, ScenarioError
from .source import (
    PathKey,
    Source,
    format_path,
    no_gc,
    parse_text,
    parse_value,
    read_source,
)

__all__ = [
    "Scenario",
    "LineSpec",
    "StageSpec",
    "Selector",
    "ConstraintSpec",
    "PoolSpec",
    "GuidelineSpec",
    "VariantSpec",
    "Goal",
    "Mode",
    "DEFAULT_STAGES",
    "GUIDELINE_PRESETS",
    "load_scenario",
    "apply_overrides",
    "scenario_from_data",
    "json_schema",
]


class _LazyCurves:
    """allocator.curves (and numpy with it) imported when a curve is first built, so that
    `allocator validate` starts without them."""

    def __getattr__(self, name: str) -> Any:
        from . import curves as module

        globals()["curves"] = module
        return getattr(module, name)


curves = _LazyCurves()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=True)


# --- value types ----------------------------------------------------------------------------


def _share(value: Any) -> Any:
    """Shares are fractions 0-1 in code; the file may also say '70%'."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1].replace(",", ".")) / 100.0
        except ValueError:
            raise ValueError(f"'{value}' is not a percentage; write e.g. '70%' or 0.7") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > 1:
            hint = f" (did you mean '{value:g}%'?)" if value <= 100 else ""
            raise ValueError(f"a share must be between 0 and 100 %, got {value:g}{hint}; "
                             "write a fraction like 0.7 or a percentage like '70%'")
        if value < 0:
            raise ValueError(f"a share must be between 0 and 100 %, got {value:g}")
    return value


# Numbers no real plan has (1e300, 1e-300) pass the type checks but turn the solver's
# arithmetic into noise: each kind of number has a range that any real plan fits many times.
MONEY_MAX = 1e12
ZEROS = "; check the units and the number of zeros"
AMOUNTS = (0.0, MONEY_MAX, "of amounts of money or outcomes" + ZEROS)
SCALES = (1e-6, 1e12, "of positive amounts and curve scales (spend, outcomes, unit costs)"
          + ZEROS)
FACTORS = (1e-3, 1e3, "of a factor on a curve or a budget (1.15 = +15 %)")


def range_error(value: float, lo: float, hi: float, what: str) -> str | None:
    """Why `value` is not a number of this kind (None when it is): `what` names the kind."""
    if math.isfinite(value) and lo <= value <= hi:
        return None
    return f"{value:g} is outside {lo:g} to {hi:g}, the range {what}"


def _within(lo: float, hi: float, what: str) -> AfterValidator:
    def check(value: float) -> float:  # after pydantic's own checks: finite, a number
        if lo <= value <= hi:
            return value
        raise ValueError(range_error(value, lo, hi, what))
    return AfterValidator(check)


Share = Annotated[float, BeforeValidator(_share)]
Money = Annotated[float, Field(ge=0), _within(*AMOUNTS)]
Positive = Annotated[float, Field(gt=0), _within(*SCALES)]
CurveFactor = Annotated[float, Field(gt=0), _within(*FACTORS)]
HillSlope = Annotated[float, Field(gt=0), _within(0.1, 10, "of a Hill slope (S-curves have "
                                                             "1 to 4)")]
PowerScale = Annotated[float, Field(gt=0), _within(1e-12, 1e12, "of a power curve's a (its "
                                                                "outcome at a spend of 1)" + ZEROS)]
PowerExponent = Annotated[float, Field(gt=0, le=1), _within(0.001, 1, "of a power curve's "
                                                                      "exponent")]


def _named(value: str) -> str:
    if not value.strip():
        raise ValueError(f"a name cannot be empty ({value!r}): plans, reports and --set "
                         "paths show it; write one, e.g. 'Q1 2027 plan'")
    return value


Name = Annotated[str, AfterValidator(_named)]


class Range(_Model):
    """A range of money or outcomes; either end may be left open."""

    min: Money | None = None
    max: Money | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:,.0f}) is above max ({self.max:,.0f}); swap them")
        return self


class ShareRange(_Model):
    min: Share | None = None
    max: Share | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ShareRange:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:.0%}) is above max ({self.max:.0%}); swap them")
        return self


def _budget(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"a budget must be 0 or more, got {value:g}")
        if (problem := range_error(value, *AMOUNTS)) is not None:
            raise ValueError(problem)
        return {"min": value, "max": value}
    if value is None or isinstance(value, dict):
        return value
    try:  # '20000' in quotes, or 250,000, reads as text
        number = float(str(value).replace(",", "").replace(" ", ""))
    except ValueError:
        raise ValueError(f"a budget is a number (e.g. budget: 250000) or a range {{min, max}} "
                         f"(e.g. budget: {{max: 250000}}), got {_short(value)}") from None
    raise ValueError(f"a budget is a plain number, without quotes or separators (here "
                     f"budget: {number:.15g}), or a range {{min, max}}; got {_short(value)}")


class Budget(_Model):
    """Total budget: `budget: 100000` (exact), `{max: 100000}`, or `{min: .., max: ..}`."""

    min: Money | None = None
    max: Money | None = None

    @model_validator(mode="after")
    def _check(self) -> Budget:
        if self.min is None and self.max is None:
            raise ValueError("give the budget as a number (exact) or as {min, max}, "
                             "e.g. budget: 100000 or budget: {max: 100000}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:,.0f}) is above max ({self.max:,.0f}); swap them")
        return self

    @property
    def exact(self) -> bool:
        return self.min is not None and self.min == self.max

    @property
    def upper(self) -> float:
        return math.inf if self.max is None else self.max


# --- stages, platforms ----------------------------------------------------------------------


class StageSpec(_Model):
    """A funnel stage: its KPI and how planners quote its unit cost."""

    kpi: str
    unit_cost_label: str = "cost per outcome"
    per: Positive = 1.0
    value_per_outcome: Money | None = None
    revenue_per_outcome: Money | None = None
    description: str | None = None


DEFAULT_STAGES: dict[str, StageSpec] = {
    "awareness": StageSpec(kpi="impressions", unit_cost_label="CPM", per=1000,
                           description="prospecting, top of funnel: reach and ad recall"),
    "consideration": StageSpec(kpi="link clicks", unit_cost_label="CPC",
                               description="site visits, engagement, micro-conversions"),
    "conversion": StageSpec(kpi="conversions", unit_cost_label="CPA",
                            description="purchases, leads, sign-ups"),
    "loyalty": StageSpec(kpi="repeat purchases", unit_cost_label="cost per repeat purchase",
                         description="upsell, cross-sell, retention"),
    "advocacy": StageSpec(kpi="referrals", unit_cost_label="cost per referral",
                          description="mentions, referral and affiliate sales"),
}


def _stages(value: Any) -> Any:
    """`stages` may list known stage names, or map names to (partial) specs."""
    if value is None:
        return {name: spec.model_dump() for name, spec in DEFAULT_STAGES.items()}
    if isinstance(value, list):
        value = {name: {} for name in value} if all(isinstance(n, str) for n in value) else value
    if isinstance(value, dict):
        out = {}
        for name, spec in value.items():
            known = DEFAULT_STAGES.get(name)
            base = known.model_dump(exclude_none=True) if known else {}
            if spec is None:
                spec = {}
            if isinstance(spec, dict):
                out[name] = {**base, **spec}  # an unknown stage without kpi fails validation
            else:
                out[name] = spec
        return out
    return value


def _platforms(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return {p: {} for p in value}
    return value


class PlatformSpec(_Model):
    label: str | None = None


# --- curves ---------------------------------------------------------------------------------


class _CurveBase(_Model):
    spread: Share | None = Field(
        default=None, description="relative uncertainty of the response scale (0.2 = +-20 %)")
    cost_scale: CurveFactor | None = Field(
        default=None, description="unit costs multiplied by this (1.15 = CPMs up 15 %)")
    size_scale: CurveFactor | None = Field(
        default=None, description="the audience multiplied by this: saturation scaled, the "
                                  "first outcomes' unit cost unchanged")
    low: CurveFactor | None = Field(
        default=None, description="lowest plausible response, as a factor (0.92 = 8 % less), "
                                  "e.g. from a fit's bootstrap; with high, used by the "
                                  "uncertainty analysis instead of spread")
    high: CurveFactor | None = Field(default=None, description="highest plausible response factor")

    @model_validator(mode="after")
    def _range(self):
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high (the response's plausible range, "
                             "e.g. low: 0.9, high: 1.08), or neither")
        if self.low is not None and not self.low <= 1.0 <= self.high:
            raise ValueError(f"low ({self.low:g}) must be at most 1 and high ({self.high:g}) "
                             "at least 1: they are factors on the curve as written")
        return self

    def build(self, per: float) -> curves.Curve:
        raise NotImplementedError


class HillSpec(_CurveBase):
    type: Literal["hill"]
    vmax: Positive = Field(description="saturation: the outcome approached at infinite spend")
    k: Positive = Field(description="spend at which half of vmax is reached")
    s: HillSlope = Field(default=1.0, description="slope; > 1 makes an S-curve")

    def build(self, per: float) -> curves.Curve:
        return curves.Hill(self.vmax, self.k, self.s)


class ExponentialSpec(_CurveBase):
    type: Literal["exponential"]
    vmax: Positive
    k: Positive

    def build(self, per: float) -> curves.Curve:
        return curves.Exponential(self.vmax, self.k)


class PowerSpec(_CurveBase):
    type: Literal["power"]
    a: PowerScale
    b: PowerExponent

    def build(self, per: float) -> curves.Curve:
        return curves.Power(self.a, self.b)


class LogSpec(_CurveBase):
    type: Literal["log"]
    a: Positive
    k: Positive

    def build(self, per: float) -> curves.Curve:
        return curves.Log(self.a, self.k)


class LinearSpec(_CurveBase):
    type: Literal["linear"]
    unit_cost: Positive = Field(description="cost per `per` outcomes (CPM with per 1000)")
    per: Positive | None = None
    cap: Positive | None = Field(default=None, description="the most outcomes it can buy")

    def build(self, per: float) -> curves.Curve:
        return curves.Linear(self.unit_cost / (self.per or per),
                             math.inf if self.cap is None else self.cap)


class PointsSpec(_CurveBase):
    type: Literal["points"]
    spend: list[Money] = Field(min_length=2)
    outcome: list[Money] = Field(min_length=2)

    @model_validator(mode="after")
    def _monotone(self) -> PointsSpec:
        if len(self.spend) != len(self.outcome):
            raise ValueError(f"spend has {len(self.spend)} points but outcome has "
                             f"{len(self.outcome)}; give one outcome per spend point")
        if any(b <= a for a, b in zip(self.spend, self.spend[1:], strict=False)):
            raise ValueError("spend points must strictly increase, e.g. [0, 10000, 20000]")
        if any(b < a for a, b in zip(self.outcome, self.outcome[1:], strict=False)):
            raise ValueError("outcome points must not decrease as spend grows")
        if self.outcome[-1] <= (self.outcome[0] if self.spend[0] == 0 else 0):
            raise ValueError("this curve has no positive response: more spend never buys "
                             "more outcome; give rising outcome points")
        return self

    def build(self, per: float) -> curves.Curve:
        return curves.Points(tuple(self.spend), tuple(self.outcome))


class UnitCostRiseSpec(_CurveBase):
    """Planner terms: 'at spend S the CPM is C, and doubling spend raises it by r'."""

    type: Literal["unit_cost_rise"]
    unit_cost: Positive = Field(description="unit cost (CPM, CPC, CPA) quoted at at_spend")
    at_spend: Positive
    rise_per_doubling: Share = Field(description="how much the unit cost rises when spend "
                                     "doubles, e.g. '25%'")
    per: Positive | None = None

    @field_validator("rise_per_doubling")
    @classmethod
    def _below_one(cls, v: float) -> float:
        if v >= 1.0:
            raise ValueError(f"a rise of {v:.0%} per doubling means more spend buys nothing "
                             "more (no positive response); use a rise below 100 %")
        return v

    def build(self, per: float) -> curves.Curve:
        return curves.from_unit_cost_rise(self.unit_cost, self.at_spend,
                                          self.rise_per_doubling, self.per or per)


class UnitCostSaturationSpec(_CurveBase):
    """Planner terms: 'the first clicks cost C, the audience saturates at N'."""

    type: Literal["unit_cost_saturation"]
    unit_cost: Positive = Field(description="unit cost of the first outcomes")
    saturation: Positive = Field(description="the most outcomes this line can ever buy")
    per: Positive | None = None

    def build(self, per: float) -> curves.Curve:
        return curves.from_unit_cost_saturation(self.unit_cost, self.saturation,
                                                self.per or per)


CurveSpec = Annotated[
    HillSpec | ExponentialSpec | PowerSpec | LogSpec | LinearSpec | PointsSpec
    | UnitCostRiseSpec | UnitCostSaturationSpec,
    Field(discriminator="type"),
]
CURVE_TYPES = ["hill", "exponential", "power", "log", "linear", "points",
               "unit_cost_rise", "unit_cost_saturation"]


# --- lines, selectors, constraints ----------------------------------------------------------


def _carryover(value: Any) -> Any:
    """`carryover: 0.4` (or '40%') is a geometric decay; a mapping gives decay or lags."""
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return {"decay": value}
    return value


class CarryoverSpec(_Model):
    """How a period's spend keeps working in later periods (adstock): a geometric decay
    (weights 1, d, d^2, ...) or explicit lag weights (a delayed peak: [0.3, 1, 0.5])."""

    decay: Share | None = Field(default=None, description="share of a period's effective "
                                "spend that works again the next period (0 to 0.99)")
    lags: list[Annotated[float, Field(ge=0, le=10)]] | None = Field(
        default=None, min_length=1, max_length=104,
        description="weight of the spend of this period, the next, ... (the first is now)")

    @model_validator(mode="after")
    def _one(self) -> CarryoverSpec:
        if (self.decay is None) == (self.lags is None):
            raise ValueError("give carryover as a decay (carryover: 0.4) or as lag weights "
                             "(carryover: {lags: [1, 0.6, 0.2]}), one of them")
        if self.decay is not None and self.decay >= 1:
            raise ValueError(f"a carryover decay must be below 100 % (got {self.decay:.0%}): "
                             "at 100 % a euro would work forever; write e.g. 0.4")
        if self.lags is not None and not any(self.lags):
            raise ValueError("lag weights are all 0: the spend would never work; "
                             "write e.g. {lags: [1, 0.5]}")
        return self

    def weights(self, horizon: int) -> list[float]:
        """Weight of the spend of period t in period t + k, k = 0 .. horizon-1."""
        if self.lags is not None:
            return [float(w) for w in self.lags[:horizon]]
        d = float(self.decay or 0.0)
        out = [1.0]
        while len(out) < horizon and out[-1] * d > 1e-9:
            out.append(out[-1] * d)
        return out

TAGS = ("name", "stage", "platform", "market", "period", "kind")


class LineSpec(_Model):
    """One budget line: a stage x platform (x market, period) with its response curve."""

    name: Name | None = None
    stage: str
    platform: str
    market: str | None = None
    period: str | None = None
    kind: Literal["paid", "owned"] = "paid"
    curve: CurveSpec
    value_per_outcome: Money | None = Field(
        default=None, description="worth of one outcome in currency (defaults to the stage's)")
    revenue_per_outcome: Money | None = Field(
        default=None, description="revenue one outcome brings, for ROAS (defaults to the stage's)")
    min: Money = 0.0
    max: Money | None = None
    min_if_active: Money | None = Field(
        default=None, description="spend is 0 or at least this (learning-phase threshold)")
    baseline: Money | None = Field(default=None, description="what this line spends today")
    # plans over time (only with `periods:`): see PeriodsSpec
    carryover: Annotated[CarryoverSpec, BeforeValidator(_carryover)] | None = Field(
        default=None, description="0.4: 40 % of a period's effective spend works again the "
        "next period; or {lags: [1, 0.6, 0.2]}: weights of this and the following periods")
    history: list[Money] | None = Field(
        default=None, description="spend in the periods before the plan, oldest first")
    by_period: dict[str, Range] | None = Field(
        default=None, description="period -> {min, max} spend of this line in that period "
        "({max: 0}: off)")
    flight: list[str] | None = Field(
        default=None, description="the periods this line runs in (off in the others)")

    @model_validator(mode="after")
    def _bounds(self) -> LineSpec:
        if self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:,.0f}) is above max ({self.max:,.0f}); "
                             "lower min or raise max")
        if self.max is not None and self.min_if_active is not None \
                and self.min_if_active > self.max:
            raise ValueError(f"min_if_active ({self.min_if_active:,.0f}) is above max "
                             f"({self.max:,.0f}): the line could never be active")
        return self

    def tag(self, key: str) -> str | None:
        return getattr(self, key)

    @property
    def upper(self) -> float:
        return math.inf if self.max is None else self.max


def _selector(value: Any) -> Any:
    return {} if value is None else value


class Selector(_Model):
    """Lines chosen by tags; each tag takes one value or a list. `{}` selects every line."""

    name: str | list[str] | None = None
    stage: str | list[str] | None = None
    platform: str | list[str] | None = None
    market: str | list[str] | None = None
    period: str | list[str] | None = None
    kind: str | list[str] | None = None

    def items(self) -> list[tuple[str, list[str]]]:
        out = []
        for key in TAGS:
            v = getattr(self, key)
            if v is not None:
                out.append((key, [v] if isinstance(v, str) else list(v)))
        return out

    def matches(self, line: LineSpec) -> bool:
        return all(line.tag(key) in values for key, values in self.items())

    @property
    def label(self) -> str:
        parts = [f"{k}={'|'.join(v)}" for k, v in self.items()]
        return ",".join(parts) if parts else "total"


SelectorField = Annotated[Selector, BeforeValidator(_selector)]


class ConstraintSpec(_Model):
    """Bounds on a group of lines: spend share, spend, outcome, CPA, ROAS, mROAS, active count."""

    name: str | None = None
    select: SelectorField = Field(default_factory=Selector)
    share: ShareRange | None = Field(default=None, description="share of total spend")
    spend: Range | None = None
    outcome: Range | None = Field(default=None, description="KPI floor / ceiling (outcomes)")
    cpa_max: Positive | None = Field(default=None, description="spend / outcome at most this")
    roas_min: Money | None = Field(default=None, description="revenue / spend at least this")
    marginal_roas_min: Money | None = Field(
        default=None, description="revenue of the last unit of currency at least this")
    max_active: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="at most this many lines of the group get spend")
    share_of: SelectorField | None = Field(
        default=None, description="share: of the spend of these lines (default: all lines)")
    per_period: bool = Field(default=False, description="with periods: the constraint holds "
                             "in every period (default: over the whole plan)")

    @model_validator(mode="after")
    def _something(self) -> ConstraintSpec:
        if all(getattr(self, f) is None for f in
               ("share", "spend", "outcome", "cpa_max", "roas_min", "marginal_roas_min",
                "max_active")):
            raise ValueError("a constraint needs at least one of share, spend, outcome, "
                             "cpa_max, roas_min, marginal_roas_min, max_active")
        return self

    def label(self, kind: str) -> str:
        return self.name or f"{kind}[{self.select.label}]"


class PoolSpec(_Model):
    """Retargeting audience: outcome of `lines` <= rate x outcome of `source` (upstream)."""

    name: str | None = None
    lines: SelectorField
    source: SelectorField
    rate: Positive = Field(description="outcomes the lines can reach per upstream outcome")
    per_period: bool = Field(default=False, description="with periods: the pool holds in "
                             "every period (default: over the whole plan)")

    @property
    def label(self) -> str:
        return self.name or f"pool[{self.lines.label}<-{self.source.label}]"


GUIDELINE_PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    # the paid social funnel article: 70-80 % prospecting, then about 10 % / 20 %
    # consideration / conversion ("test what works": bands, not points)
    "paid-social-funnel": {"awareness": (0.70, 0.80), "consideration": (0.05, 0.15),
                           "conversion": (0.10, 0.20)},
}


class GuidelineSpec(_Model):
    """Stage share bands from a preset, hard or soft, with per-scenario overrides."""

    preset: str | None = "paid-social-funnel"
    enforce: Literal["hard", "soft"] = "hard"
    penalty_per_point: Money | None = Field(
        default=None, description="soft only: objective lost per percentage point outside a band")
    bands: dict[str, ShareRange] = Field(default_factory=dict)
    per_period: bool = Field(default=False, description="with periods: the bands hold in "
                             "every period (default: on the whole plan's spend)")

    @field_validator("preset")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in GUIDELINE_PRESETS:
            raise ValueError(f"unknown preset '{v}'{did_you_mean(v, GUIDELINE_PRESETS)}; "
                             f"known presets: {', '.join(GUIDELINE_PRESETS)}")
        return v

    @model_validator(mode="after")
    def _penalty(self) -> GuidelineSpec:
        if self.enforce == "soft" and self.penalty_per_point is None:
            raise ValueError("soft guidelines need penalty_per_point: the objective given up "
                             "per percentage point outside a band, e.g. 500")
        if self.enforce == "hard" and self.penalty_per_point is not None:
            raise ValueError("penalty_per_point only applies with enforce: soft")
        return self


class Goal(StrEnum):
    CONVERSIONS = "conversions"
    REVENUE = "revenue"
    VALUE = "value"
    PROFIT = "profit"
    MIN_SPEND = "min_spend"


class Mode(StrEnum):
    FIXED_BUDGET = "fixed_budget"
    TARGET_EFFICIENCY = "target_efficiency"


def _currency(value: Any) -> Any:
    if isinstance(value, str):
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError(f"currency is a three-letter ISO code such as EUR, USD or IDR, "
                             f"got {value!r}")
        return code
    return value


def _objective(value: Any) -> Any:
    return {"goal": value} if isinstance(value, str) else value


class ObjectiveSpec(_Model):
    goal: Goal
    select: SelectorField | None = Field(
        default=None, description="conversions only: which lines count (default: stage conversion)")


class TargetSpec(_Model):
    """Target efficiency: the largest spend whose CPA stays under / ROAS over the target."""

    select: SelectorField = Field(default_factory=Selector)
    cpa_max: Positive | None = None
    roas_min: Positive | None = None

    @model_validator(mode="after")
    def _one(self) -> TargetSpec:
        if (self.cpa_max is None) == (self.roas_min is None):
            raise ValueError("give exactly one of cpa_max or roas_min")
        return self


# --- the scenario ---------------------------------------------------------------------------


def _factor(value: Any) -> Any:
    """A multiplier: 1.15, or a change like '+15%' / '-10%'."""
    if isinstance(value, str):
        text = value.strip().replace(",", ".")
        try:
            if text.endswith("%"):
                return 1.0 + float(text[:-1]) / 100.0
            return float(text.lstrip("x×"))
        except ValueError:
            raise ValueError(f"'{value}' is not a factor; write 1.15 or '+15%'") from None
    return value


Factor = Annotated[float, BeforeValidator(_factor), Field(gt=0), _within(*FACTORS)]


def _period_budget(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"min": value, "max": value}
    if isinstance(value, str) and value.strip().endswith("%"):
        return {"share": value}
    return value


def _share_range(value: Any) -> Any:
    return {"min": value, "max": value} if not isinstance(value, dict) else value


class PeriodBudget(_Model):
    """A period's budget: 40000 (exact), {max: 40000}, {min, max}, or a share of the whole
    plan's spend: '40%' (exact) or {share: {min: 30%, max: 40%}}."""

    min: Money | None = None
    max: Money | None = None
    share: Annotated[ShareRange, BeforeValidator(_share_range)] | None = None

    @model_validator(mode="after")
    def _check(self) -> PeriodBudget:
        if self.min is None and self.max is None and self.share is None:
            raise ValueError("give a period's budget as a number, {min, max} or a share "
                             "such as '40%'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:,.0f}) is above max ({self.max:,.0f}); swap them")
        return self


PerPeriod = list[Factor] | dict[str, Factor]


class SeasonalitySpec(_Model):
    """Per period multipliers on the selected lines: response (demand: 1.2 = 20 % more
    outcome for the same effective spend) and unit cost (auction pressure: 1.3 = each unit
    costs 30 % more). A list has one factor per period; a mapping names periods (others 1)."""

    select: SelectorField = Field(default_factory=Selector)
    response: PerPeriod | None = None
    cost: PerPeriod | None = None


class CarryoverRule(_Model):
    """Carryover for the selected lines (a line's own `carryover` wins)."""

    select: SelectorField = Field(default_factory=Selector)
    carryover: Annotated[CarryoverSpec, BeforeValidator(_carryover)]


class PacingSpec(_Model):
    """A line's spend may change from one period to the next by at most max_change of the
    earlier period's spend plus max_change_amount."""

    select: SelectorField = Field(default_factory=Selector)
    max_change: Share | None = None
    max_change_amount: Money | None = None

    @model_validator(mode="after")
    def _one(self) -> PacingSpec:
        if self.max_change is None and self.max_change_amount is None:
            raise ValueError("pacing needs max_change (e.g. '20%') or max_change_amount")
        return self


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def period_labels(value: Any) -> Any:
    """'2027-01 .. 2027-03' (months) or 'W01 .. W13' (numbered labels) -> the labels."""
    if not isinstance(value, str):
        return value
    parts = [s.strip() for s in value.split("..")]
    if len(parts) != 2 or not all(parts):
        return [value.strip()]
    a, b = parts
    ma, mb = _MONTH.match(a), _MONTH.match(b)
    if ma and mb:
        ya, na, yb, nb = int(ma[1]), int(ma[2]), int(mb[1]), int(mb[2])
        if not (1 <= na <= 12 and 1 <= nb <= 12):
            raise ValueError(f"'{value}': months run 01 to 12")
        out = []
        while (ya, na) <= (yb, nb) and len(out) <= 1000:
            out.append(f"{ya:04d}-{na:02d}")
            ya, na = (ya + 1, 1) if na == 12 else (ya, na + 1)
        if not out:
            raise ValueError(f"'{value}': the first month is after the last")
        return out
    na, nb = _NUMBERED.match(a), _NUMBERED.match(b)
    if na and nb and na[1] == nb[1]:
        lo, hi, width = int(na[2]), int(nb[2]), len(na[2])
        if hi < lo or hi - lo > 1000:
            raise ValueError(f"'{value}': the range runs backwards or is longer than 1000")
        return [f"{na[1]}{k:0{width}d}" for k in range(lo, hi + 1)]
    raise ValueError(f"'{value}' is not a range of periods; write '2027-01 .. 2027-03', "
                     "'W01 .. W13' or a list of labels")


def _days_of(label: str) -> float | None:
    import calendar

    m = _MONTH.match(label)
    if m and 1 <= int(m[2]) <= 12:
        return float(calendar.monthrange(int(m[1]), int(m[2]))[1])
    if re.match(r"^W\d+$", label):
        return 7.0
    return None


class PeriodsSpec(_Model):
    """The plan's periods (months, weeks or any labels) and what connects them: carryover,
    seasonality, period budgets, pacing, discounting."""

    labels: Annotated[list[Annotated[str, AfterValidator(_named)]],
                      BeforeValidator(period_labels)] = Field(min_length=1, max_length=1000)
    days: list[Positive] | None = Field(default=None, description="days in each period")
    budget: list[Annotated[PeriodBudget, BeforeValidator(_period_budget)]] | \
        dict[str, Annotated[PeriodBudget, BeforeValidator(_period_budget)]] | None = Field(
            default=None, description="per period: 40000, {max: ..}, {min, max} or '40%'")
    phasing: Literal["free", "even"] = Field(
        default="free", description="free: the optimiser phases each line's spend; even: "
        "each line spends the same in every period it runs (what PyMC-Marketing does)")
    seasonality: list[SeasonalitySpec] = Field(default_factory=list)
    carryover: list[CarryoverRule] = Field(default_factory=list)
    carryover_order: Literal["before_saturation", "after_saturation"] = Field(
        default="before_saturation", description="before: the curve of the carried-over "
        "effective spend (Robyn, PyMC-Marketing default); after: each period's response "
        "carried over")
    count_after: Annotated[int, Field(ge=0, le=104)] = Field(
        default=0, description="periods after the plan whose carryover still counts")
    discount_rate: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.0, description="per period: value in period t is worth 1/(1+r)^t today")
    pacing: list[PacingSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> PeriodsSpec:
        n = len(self.labels)
        dup = [k for k, c in Counter(self.labels).items() if c > 1]
        if dup:
            raise ValueError(f"period labels must be unique; repeated: {', '.join(dup)}")
        if self.days is None:
            days = [_days_of(label) for label in self.labels]
            if all(d is not None for d in days):
                self.days = [float(d) for d in days if d is not None]
        elif len(self.days) != n:
            raise ValueError(f"days has {len(self.days)} entries for {n} periods; give one "
                             "per period")
        if isinstance(self.budget, list) and len(self.budget) != n:
            raise ValueError(f"budget has {len(self.budget)} entries for {n} periods; give "
                             "one per period, or a mapping period -> budget")
        return self

    def per_period(self, values: PerPeriod | None) -> list[float]:
        if values is None:
            return [1.0] * len(self.labels)
        if isinstance(values, dict):
            return [float(values.get(label, 1.0)) for label in self.labels]
        return [float(v) for v in values]

    def period_budgets(self) -> dict[str, PeriodBudget]:
        if self.budget is None:
            return {}
        if isinstance(self.budget, dict):
            return dict(self.budget)
        return dict(zip(self.labels, self.budget, strict=True))


class VariantSpec(_Model):
    """A named what-if on the scenario: planner verbs applied to the base, then `set` paths.

    Names in drop / unit_cost / saturation may be a line, a platform or a stage.
    """

    name: Name
    description: str | None = None
    budget: Money | None = Field(default=None, description="a new exact total budget")
    budget_scale: Factor | None = Field(
        default=None, description="the total budget multiplied by this (1.1 or '+10%')")
    drop: list[str] = Field(default_factory=list,
                            description="platforms, stages or lines switched off (spend 0)")
    fix: dict[str, Money] = Field(default_factory=dict,
                                  description="line -> spend it must have exactly")
    bounds: dict[str, Range] = Field(default_factory=dict,
                                     description="line -> new {min, max} spend")
    bands: dict[str, ShareRange] = Field(
        default_factory=dict, description="stage -> guideline band {min, max}")
    unit_cost: dict[str, Factor] = Field(
        default_factory=dict, description="line/platform/stage -> unit cost factor ('+15%')")
    saturation: dict[str, Factor] = Field(
        default_factory=dict, description="line/platform/stage -> audience size factor")
    period_budget: dict[str, Factor] = Field(
        default_factory=dict, description="period -> factor on its budget ('-20%'), for "
        "scenarios with periods")
    set: list[str] = Field(default_factory=list,
                           description="PATH=VALUE overrides, as `allocator plan --set`")


class Scenario(_Model):
    """A validated planning scenario."""

    name: Name
    description: str | None = None
    currency: Annotated[str, BeforeValidator(_currency),
                        Field(description="ISO 4217 code, e.g. EUR")] = "EUR"
    period: str | None = None
    budget: Annotated[Budget, BeforeValidator(_budget)] | None = None
    stages: Annotated[dict[str, StageSpec], BeforeValidator(_stages)] = Field(
        default=None, validate_default=True)
    platforms: Annotated[dict[str, PlatformSpec], BeforeValidator(_platforms)]
    lines: list[LineSpec] = Field(min_length=1)
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    pools: list[PoolSpec] = Field(default_factory=list)
    guidelines: GuidelineSpec | None = None
    objective: Annotated[ObjectiveSpec, BeforeValidator(_objective)] = Field(
        default_factory=lambda: ObjectiveSpec(goal=Goal.VALUE))
    mode: Mode = Mode.FIXED_BUDGET
    target: TargetSpec | None = None
    periods: PeriodsSpec | None = Field(
        default=None, description="plan over periods (months, weeks) with carryover")
    variants: list[VariantSpec] = Field(
        default_factory=list, description="named what-ifs for `allocator compare`")

    _file: str = PrivateAttr(default="<scenario>")
    _source: Source | None = PrivateAttr(default=None)
    # a scenario flattened from periods (periods.flatten): how its lines map to line x period
    _layout: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _fill_names(self) -> Scenario:
        for line in self.lines:
            if line.name is None:
                tags = [line.stage, line.platform, line.market, line.period]
                line.name = "-".join(t for t in tags if t)
        return self

    # --- derived views used downstream ---

    @property
    def file(self) -> str:
        return self._file

    def stage_of(self, line: LineSpec) -> StageSpec:
        return self.stages[line.stage]

    def curve(self, line: LineSpec) -> curves.Curve:
        crv = line.curve.build(self.stage_of(line).per)
        size, cost = line.curve.size_scale or 1.0, line.curve.cost_scale or 1.0
        if size == 1.0 and cost == 1.0:
            return crv
        # g(x) = size * f(x / (size * cost)): size more audience at the same first unit cost
        return curves.scaled(crv, outcome=size, cost=size * cost)

    def value_per_outcome(self, line: LineSpec) -> float:
        stage = self.stage_of(line)
        for v in (line.value_per_outcome, stage.value_per_outcome,
                  line.revenue_per_outcome, stage.revenue_per_outcome):
            if v is not None:
                return v
        return 0.0

    def revenue_per_outcome(self, line: LineSpec) -> float:
        stage = self.stage_of(line)
        for v in (line.revenue_per_outcome, stage.revenue_per_outcome):
            if v is not None:
                return v
        return 0.0

    def select(self, selector: Selector) -> list[int]:
        return [i for i, line in enumerate(self.lines) if selector.matches(line)]

    def guideline_bands(self) -> dict[str, tuple[float, float]]:
        """Stage share bands after preset and overrides; preset stages not declared are skipped."""
        if self.guidelines is None:
            return {}
        bands = {s: b for s, b in GUIDELINE_PRESETS.get(self.guidelines.preset or "", {}).items()
                 if s in self.stages}
        for stage, band in self.guidelines.bands.items():
            lo, hi = bands.get(stage, (0.0, 1.0))
            bands[stage] = (lo if band.min is None else band.min,
                            hi if band.max is None else band.max)
        return bands

    @property
    def has_baseline(self) -> bool:
        return any(line.baseline is not None for line in self.lines)

    def point_of_share(self) -> float | None:
        """The spend one percentage point of share stands for, when pricing a soft guideline:
        1 % of the budget's max, else of its min, else of today's total spend (None without
        any: then the solver takes 1 % of what the goal costs without the guidelines)."""
        b = self.budget
        for ref in (b and b.max, b and b.min,
                    sum(line.baseline or 0.0 for line in self.lines)):
            if ref:
                return 0.01 * ref
        return None


# --- cross-field checks: everything pydantic cannot see field by field ----------------------


def did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_selector(sc: Scenario, sel: Selector, path: PathKey, out: list) -> None:
    before = len(out)
    for key, values in sel.items():
        known = {"stage": sc.stages, "platform": sc.platforms,
                 "name": [line.name for line in sc.lines]}.get(key)
        for v in values:
            if known is not None and v not in known:
                out.append((path + (key,), f"'{v}' is not a declared {key}"
                            f"{did_you_mean(v, known)}; known: {', '.join(map(str, known))}"))
    if len(out) == before and not sc.select(sel):
        out.append((path, f"selector {{{sel.label}}} matches no line; check its tags "
                    "against the lines' stage, platform, market, period and kind"))


def check_variant_names(sc: Scenario, out: list) -> None:
    """Every name a variant's verbs use must exist: a line, platform or stage."""
    lines = {line.name for line in sc.lines}
    anything = lines | set(sc.platforms) | set(sc.stages)
    seen: set[str] = set()
    for i, v in enumerate(sc.variants):
        if v.name in seen or v.name == "base":
            out.append((("variants", i, "name"), f"variant name '{v.name}' is "
                        + ("reserved for the scenario itself" if v.name == "base"
                           else "used twice") + "; give each variant a unique name"))
        seen.add(v.name)
        if v.budget is not None and v.budget_scale is not None:
            out.append((("variants", i), "give budget or budget_scale, not both"))
        budgets = sc.periods.period_budgets() if sc.periods is not None else {}
        for label in v.period_budget:
            if sc.periods is None:
                out.append((("variants", i, "period_budget"), "period_budget needs periods"))
            elif label not in sc.periods.labels:
                out.append((("variants", i, "period_budget", label), f"'{label}' is not a "
                            f"declared period{did_you_mean(label, sc.periods.labels)}"))
            elif label not in budgets:
                out.append((("variants", i, "period_budget", label), f"period '{label}' has "
                            "no budget of its own to scale; give it one under periods.budget"))
        for field, names, what in (("drop", v.drop, "a line, platform or stage"),
                                   ("fix", list(v.fix), "a line"),
                                   ("bounds", list(v.bounds), "a line"),
                                   ("bands", list(v.bands), "a stage"),
                                   ("unit_cost", list(v.unit_cost), "a line, platform or stage"),
                                   ("saturation", list(v.saturation),
                                    "a line, platform or stage")):
            known = {"a line": lines, "a stage": set(sc.stages)}.get(what, anything)
            for j, name in enumerate(names):
                if name not in known:
                    key = j if field == "drop" else name
                    out.append((("variants", i, field, key), f"'{name}' is not {what} of this "
                                f"scenario{did_you_mean(name, known)}"))


def _check_periods(sc: Scenario, out: list) -> None:
    """Periods: every label named is declared, lists have one entry per period, and the
    period-only fields are used only with periods."""
    ps = sc.periods
    if ps is None:
        for i, line in enumerate(sc.lines):
            for field in ("carryover", "history", "by_period", "flight"):
                if getattr(line, field) is not None:
                    out.append((("lines", i, field), f"{field} needs periods: declare the "
                                "plan's periods, e.g. periods: {labels: '2027-01 .. 2027-03'}"))
        for i, c in enumerate(sc.constraints):
            if c.per_period:
                out.append((("constraints", i, "per_period"), "per_period needs periods: "
                            "declare the plan's periods"))
        if sc.guidelines is not None and sc.guidelines.per_period:
            out.append((("guidelines", "per_period"), "per_period needs periods"))
        return
    labels, n = ps.labels, len(ps.labels)

    def known(path: PathKey, names: Any) -> None:
        for name in names:
            if name not in labels:
                out.append((path + (name,) if isinstance(name, str) else path,
                            f"'{name}' is not a declared period{did_you_mean(name, labels)}; "
                            f"periods: {', '.join(labels[:12])}{' ...' if n > 12 else ''}"))

    if isinstance(ps.budget, dict):
        known(("periods", "budget"), ps.budget)
    for j, s in enumerate(ps.seasonality):
        _check_selector(sc, s.select, ("periods", "seasonality", j, "select"), out)
        for field in ("response", "cost"):
            v = getattr(s, field)
            if isinstance(v, dict):
                known(("periods", "seasonality", j, field), v)
            elif v is not None and len(v) != n:
                out.append((("periods", "seasonality", j, field), f"{len(v)} factors for {n} "
                            "periods; give one per period or a mapping period -> factor"))
    for j, r in enumerate(ps.carryover):
        _check_selector(sc, r.select, ("periods", "carryover", j, "select"), out)
    for j, r in enumerate(ps.pacing):
        _check_selector(sc, r.select, ("periods", "pacing", j, "select"), out)
    for i, line in enumerate(sc.lines):
        if line.period is not None:
            out.append((("lines", i, "period"), "with periods: a line runs over the periods; "
                        "drop its period tag (use flight or by_period for when it runs)"))
        if line.by_period:
            known(("lines", i, "by_period"), line.by_period)
            for label, r in line.by_period.items():
                low = r.min if r.min is not None else line.min
                if r.max is not None and low > r.max:
                    out.append((("lines", i, "by_period", label), f"min {low:,.0f} is above "
                                f"max {r.max:,.0f} in {label}"))
        if line.flight is not None:
            known(("lines", i, "flight"), line.flight)
    for i, c in enumerate(sc.constraints):
        if c.marginal_roas_min is not None:
            out.append((("constraints", i, "marginal_roas_min"), "marginal_roas_min is not "
                        "available with periods yet (with carryover a euro's return spreads "
                        "over later periods); use roas_min per period instead"))
    budgets = ps.period_budgets()
    floor = sum(b.min or 0.0 for b in budgets.values())
    if sc.budget is not None and sc.budget.max is not None and floor > sc.budget.max + 1e-9:
        out.append((("periods", "budget"), f"period budget minimums add up to {floor:,.0f}, "
                    f"above the whole budget max of {sc.budget.max:,.0f}"))
    if len(budgets) == n and all(b.max is not None for b in budgets.values()) and \
            sc.budget is not None and sc.budget.min is not None:
        top = sum(b.max or 0.0 for b in budgets.values())
        if top < sc.budget.min - 1e-9:
            out.append((("periods", "budget"), f"period budget maximums add up to {top:,.0f}, "
                        f"below the whole budget min of {sc.budget.min:,.0f}"))
    shares = sum((b.share.min or 0.0) for b in budgets.values() if b.share is not None)
    if shares > 1 + 1e-9:
        out.append((("periods", "budget"), f"period shares add up to {shares:.0%}, more "
                    "than 100 %"))


def _over_plan(sc: Scenario, line: LineSpec, field: str) -> float:
    """A line's min or max (field) over the whole plan: itself without periods; with
    periods, summed over the periods the line runs (by_period overrides included)."""
    own = line.min if field == "min" else line.upper
    if sc.periods is None:
        return own
    total = 0.0
    for label in sc.periods.labels:
        if line.flight is not None and label not in line.flight:
            continue
        r = (line.by_period or {}).get(label)
        v = getattr(r, field) if r is not None else None
        total += own if v is None else v
    return total


def _cross_check(sc: Scenario) -> list[tuple[PathKey, str]]:
    out: list[tuple[PathKey, str]] = []
    for i, line in enumerate(sc.lines):
        if line.stage not in sc.stages:
            out.append((("lines", i, "stage"), f"stage '{line.stage}' is not declared"
                        f"{did_you_mean(line.stage, sc.stages)}; declared stages: "
                        f"{', '.join(sc.stages)}"))
        if line.platform not in sc.platforms:
            out.append((("lines", i, "platform"), f"platform '{line.platform}' is not declared"
                        f"{did_you_mean(line.platform, sc.platforms)}; add it under platforms "
                        f"or use one of: {', '.join(sc.platforms)}"))
        # a min_if_active above the budget is no mistake: the line cannot start, stays at 0
        if sc.budget is not None and sc.budget.max is not None and line.min > sc.budget.max:
            out.append((("lines", i, "min"), f"min {line.min:,.0f} is above the whole "
                        f"budget of {sc.budget.max:,.0f}"))
    counts = Counter(line.name for line in sc.lines)
    for i, line in enumerate(sc.lines):
        if counts[line.name] > 1:
            out.append((("lines", i, "name"), f"line name '{line.name}' is used "
                        f"{counts[line.name]} times; give each line a unique name"))
    for i, c in enumerate(sc.constraints):
        _check_selector(sc, c.select, ("constraints", i, "select"), out)
    for i, p in enumerate(sc.pools):
        _check_selector(sc, p.lines, ("pools", i, "lines"), out)
        _check_selector(sc, p.source, ("pools", i, "source"), out)
    if sc.target is not None:
        _check_selector(sc, sc.target.select, ("target", "select"), out)

    check_variant_names(sc, out)
    _check_periods(sc, out)

    # money that cannot add up
    if sc.budget is not None and sc.budget.max is not None:
        floor = sum(_over_plan(sc, line, "min") for line in sc.lines)
        if floor > sc.budget.max + 1e-9:
            out.append((("lines",), f"line minimums add up to {floor:,.0f}, above the budget "
                        f"max of {sc.budget.max:,.0f}; lower some min or raise the budget"))
    if sc.budget is not None and sc.budget.min is not None \
            and all(line.max is not None for line in sc.lines):
        ceiling = sum(_over_plan(sc, line, "max") for line in sc.lines)
        if ceiling < sc.budget.min - 1e-9:
            out.append((("budget",), f"the budget must spend at least {sc.budget.min:,.0f} "
                        f"but line maximums add up to only {ceiling:,.0f}; raise some max"))

    # shares that cannot add up: stage shares over the declared stages
    stage_min: dict[str, float] = {}
    stage_max: dict[str, float] = {}
    for c in sc.constraints:
        if c.share is None:
            continue
        stage_only = [k for k, _ in c.select.items()] == ["stage"]
        if stage_only:
            for s in c.select.items()[0][1]:
                if c.share.min is not None and len(c.select.items()[0][1]) == 1:
                    stage_min[s] = max(stage_min.get(s, 0.0), c.share.min)
                if c.share.max is not None:
                    stage_max[s] = min(stage_max.get(s, 1.0), c.share.max)
    if sc.guidelines is not None:
        for s in sc.guidelines.bands:
            if s not in sc.stages:
                out.append((("guidelines", "bands", s), f"stage '{s}' is not declared"
                            f"{did_you_mean(s, sc.stages)}; declared: {', '.join(sc.stages)}"))
        if sc.guidelines.enforce == "hard":
            for s, (lo, hi) in sc.guideline_bands().items():
                stage_min[s] = max(stage_min.get(s, 0.0), lo)
                stage_max[s] = min(stage_max.get(s, 1.0), hi)
    used_stages = {line.stage for line in sc.lines}
    total_min = sum(stage_min.values())
    if total_min > 1 + 1e-9:
        detail = ", ".join(f"{s} >= {v:.0%}" for s, v in stage_min.items() if v > 0)
        out.append((("constraints",) if not sc.guidelines else ("guidelines",),
                    f"stage share minimums add up to {total_min:.0%} ({detail}), more than "
                    "100 %; lower some of them"))
    if used_stages and all(s in stage_max for s in used_stages):
        total_max = sum(stage_max[s] for s in used_stages)
        if total_max < 1 - 1e-9:
            detail = ", ".join(f"{s} <= {stage_max[s]:.0%}" for s in sorted(used_stages))
            out.append((("constraints",) if not sc.guidelines else ("guidelines",),
                        f"stage share maximums add up to {total_max:.0%} ({detail}), less "
                        "than 100 %: the budget cannot be spent; raise some of them"))
    for s, hi in stage_max.items():
        if stage_min.get(s, 0.0) > hi + 1e-9:
            out.append((("guidelines",) if sc.guidelines else ("constraints",),
                        f"stage '{s}' must get at least {stage_min[s]:.0%} and at most "
                        f"{hi:.0%}; make the band consistent"))

    # objective and mode
    goal = sc.objective.goal
    if goal == Goal.CONVERSIONS:
        if sc.objective.select is not None:
            _check_selector(sc, sc.objective.select, ("objective", "select"), out)
        elif "conversion" not in sc.stages:
            out.append((("objective",), "goal conversions counts the stage 'conversion', "
                        "which this scenario does not declare; add objective.select, "
                        "e.g. {stage: leads}"))
    elif sc.objective.select is not None:
        out.append((("objective", "select"), f"select only applies to goal conversions, "
                    f"not {goal.value}"))
    if goal == Goal.MIN_SPEND:
        if not any(c.outcome is not None and c.outcome.min is not None
                   for c in sc.constraints):
            out.append((("objective",), "goal min_spend needs a KPI floor to meet: add a "
                        "constraint with outcome: {min: ...}"))
    elif sc.budget is None:
        out.append((("budget",), f"goal {goal.value} needs a budget, e.g. budget: 100000 "
                    "(exact) or budget: {max: 100000}"))
    if sc.mode == Mode.TARGET_EFFICIENCY:
        if sc.target is None:
            out.append((("target",), "mode target_efficiency needs a target, e.g. "
                        "target: {cpa_max: 40} or target: {roas_min: 3}"))
        if sc.budget is not None and sc.budget.max is None:
            out.append((("budget",), "mode target_efficiency searches spend up to the "
                        "budget max; give budget: {max: ...}"))
    elif sc.target is not None:
        out.append((("target",), "target only applies to mode: target_efficiency"))
    if goal in (Goal.REVENUE,) and not any(sc.revenue_per_outcome(line) > 0
                                           for line in sc.lines if line.stage in sc.stages):
        out.append((("objective",), "goal revenue but no line has revenue_per_outcome "
                    "(on the line or its stage); add one or choose goal value"))
    return out


# --- loading --------------------------------------------------------------------------------

_FIELD_NAMES: set[str] = set()


def _vocabulary() -> set[str]:
    if not _FIELD_NAMES:
        for model in _Model.__subclasses__() + _CurveBase.__subclasses__():
            _FIELD_NAMES.update(model.model_fields)
    return _FIELD_NAMES


def _data_path(data: Any, loc: tuple) -> PathKey:
    """Pydantic's loc with union-member and validator tags dropped: the path in the file."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(part, str) and (part in CURVE_TYPES or "[" in part or part in
                                        ("function-before", "function-after")):
            continue
        else:
            path.append(part)  # a missing key: name it
            node = None
    return tuple(path)


def _model(kind: Any, node: Any) -> Any:
    """`kind` without Annotated and Optional; a union of curve families resolved by the
    data's `type`."""
    while True:
        origin, args = get_origin(kind), get_args(kind)
        if origin is Annotated:
            kind = args[0]
        elif origin in (Union, UnionType):
            members = [a for a in args if a is not NoneType]
            typed = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)
                     and "type" in m.model_fields and isinstance(node, dict)
                     and node.get("type") in get_args(m.model_fields["type"].annotation)]
            if len(members) == 1 or len(typed) == 1:
                kind = (typed or members)[0]
            else:
                return None
        else:
            return kind


def fields_at(data: Any, path: PathKey) -> tuple[str, list[str]] | None:
    """What the format takes in the mapping at `path` of the data: a label and the field
    names (the model's own first), or None where keys are free (stage names, ...)."""
    kind, node = Scenario, data
    for part in path:
        kind = _model(kind, node)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            if part not in kind.model_fields:
                return None
            kind = kind.model_fields[part].annotation
        elif get_origin(kind) in (list, dict):
            kind = get_args(kind)[-1]
        else:
            return None
        if isinstance(node, dict) and part in node or \
                isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    kind = _model(kind, node)
    if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
        return None
    fields = sorted(kind.model_fields, key=lambda f: f not in kind.__annotations__)
    if "type" in fields and isinstance(node, dict):
        return f"a {node.get('type')} curve", fields
    return (format_path(path) if path else "the scenario"), fields


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown(key: Any, data: Any, path: PathKey, word: str, fix: str = "") -> str:
    """'unknown key' under `path` with the nearest field there, or else the fields there."""
    found = fields_at(data, path)
    hint = did_you_mean(key, found[1] if found else _vocabulary())
    if hint or found is None:
        return f"unknown {word} '{key}'{hint}{fix}"
    return f"unknown {word} '{key}': {found[0]} takes {', '.join(found[1])}"


def _message(err: dict, path: PathKey, data: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return _unknown(path[-1] if path else "?", data, path[:-1], "key",
                        "; remove or rename it")
    if kind == "missing":
        return "is required but missing"
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag", "")
        return (f"unknown curve type '{tag}'{did_you_mean(tag, CURVE_TYPES)}; "
                f"one of: {', '.join(CURVE_TYPES)}")
    if kind == "union_tag_not_found":
        return f"a curve needs a type: one of {', '.join(CURVE_TYPES)}"
    msg = msg.removeprefix("Value error, ")
    if "input" in err and kind not in ("value_error", "model_type", "dict_type", "list_type"):
        msg = f"{msg}, got {_short(err['input'])}"
    elif kind in ("model_type", "dict_type"):
        msg = f"expected a mapping of keys to values, got {_short(err.get('input'))}"
    elif kind == "list_type":
        msg = f"expected a list, got {_short(err.get('input'))}"
    if kind.startswith(("greater_than", "less_than")) and path and path[-1] in (
            "vmax", "a", "saturation") and "0" in msg:
        msg += " (a curve with no positive response buys nothing; use a value above 0)"
    return msg


def problems_from(exc: ValidationError, data: Any, file: str, source: Source | None = None
                  ) -> list[Problem]:
    """Pydantic's errors as Problems: the path in the file, a planner's message, the line."""
    source = source or Source(file, data)
    out = []
    for err in exc.errors():
        path = _data_path(data, err["loc"])
        out.append(_problem(source, file, path, _message(err, path, data)))
    return out


def _problem(source: Source, file: str, path: PathKey, message: str) -> Problem:
    where, line = source.blame(path, file)
    return Problem(where, format_path(path), message, line)


def scenario_from_data(data: Any, file: str = "<scenario>", source: Source | None = None
                       ) -> Scenario:
    """Validate plain data (as parsed from a file) into a Scenario, or raise ScenarioError."""
    source = source or Source(file, data)
    if not isinstance(data, dict):
        raise ScenarioError.single(file, "a scenario is a mapping of keys (name, budget, lines, "
                                   f"...) to values, not a {type(data).__name__}")
    try:
        with no_gc():  # a large scenario is a million small objects (see source.no_gc)
            sc = Scenario.model_validate(data)
            found = _cross_check(sc)
    except ValidationError as exc:
        field = problems_from(exc, data, file, source)
        cross = _cross_check_without(data, exc)
        raise ScenarioError(field + [_problem(source, file, p, m) for p, m in cross]) \
            from None
    if found:
        raise ScenarioError([_problem(source, file, p, m) for p, m in found])
    sc._file = file
    sc._source = source
    return sc


def _overlap(a: PathKey, b: PathKey) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _cross_check_without(data: Any, exc: ValidationError) -> list[tuple[PathKey, str]]:
    """The cross-field mistakes that can still be found beside field mistakes (one pass of
    `validate` names both): the fields in error are left out (those with a default) and the
    rest checked across; nothing when a field in error cannot be left out, and no finding
    that touches a field left out."""
    removed: list[PathKey] = []
    data = copy.deepcopy(data)
    for err in exc.errors():
        path = _data_path(data, err["loc"])
        node = data
        for part in path[:-1]:
            node = node[part] if isinstance(node, dict) and part in node or isinstance(
                node, list) and isinstance(part, int) and part < len(node) else None
        if not (path and isinstance(node, dict) and path[-1] in node):
            return []  # a missing field or a list item: nothing to leave out
        del node[path[-1]]
        removed.append(path)
    try:
        with no_gc():
            found = _cross_check(Scenario.model_validate(data))
    except ValidationError:
        return []
    return [(p, m) for p, m in found if not any(_overlap(p, r) for r in removed)]


def _parse_value(text: str, where: str) -> Any:
    try:
        return parse_value(text, where) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _place(data: Any, parts: list[str | int], made: list[PathKey]
           ) -> tuple[Any, str | int, PathKey] | str:
    """Where `parts` (a --set path) lands in the data: (container, key, path with lines by
    position), or what is wrong with it. Mappings missing on the way are made (their paths
    go to `made`); lists, items and fields that do not exist are not."""
    node, path = data, ()
    for depth, part in enumerate(parts):
        here = format_path(path) or "the scenario"
        if isinstance(node, list):
            names = [x.get("name") if isinstance(x, dict) else None for x in node]
            if isinstance(part, str) and part.isdigit() and part not in names:
                part = int(part)  # an item by position: constraints.0.cpa_max
            if isinstance(part, str):  # an item by name: lines.meta-awareness
                if part not in names:
                    return f"no item named '{part}' under {here}" \
                        f"{did_you_mean(part, [n for n in names if n])}"
                part = names.index(part)
            elif part >= len(node):
                return f"there is no {format_path(path + (part,))}: {here} has " + \
                    (f"{len(node)} item(s), {here}[0] to {here}[{len(node) - 1}]" if node
                     else "no items")
        elif isinstance(node, dict):
            known = fields_at(data, path)
            if known is not None and part not in known[1]:
                return _unknown(part, data, path, "field")
            if depth + 1 < len(parts) and node.get(part) is None:
                if isinstance(parts[depth + 1], int):
                    return f"there is no {format_path(path + (part, parts[depth + 1]))}: " \
                        f"{format_path(path + (part,))} is not in the file; set the whole " \
                        f"list, e.g. {format_path(path + (part,))}=[{{...}}]"
                node[part] = {}
                made.append(path + (part,))
        else:
            return f"{here} is {_short(node)}, not a mapping or a list: '{part}' cannot go " \
                "under it"
        if depth + 1 == len(parts):
            return node, part, path + (part,)
        node, path = node[part], path + (part,)
    raise ValueError("an empty --set path")  # apply_overrides refuses those first


def apply_overrides(data: Any, assignments: list[str], file: str = "--set",
                    blame: dict[PathKey, str] | None = None,
                    labels: list[str] | None = None) -> Any:
    """Apply `PATH=VALUE` overrides to parsed scenario data, returning a new copy.

    PATH is dotted: `budget`, `guidelines.enforce`, `lines.meta-awareness.max` (a line by
    name) or `lines[2].max` / `constraints.0.cpa_max` (by position). VALUE is read as YAML:
    120000, 70%, {max: 5}.
    `blame`, when given, gets each path set (and each mapping made for it) -> the override,
    so that a problem there names the override rather than a line of the file; `labels`
    name the overrides there (e.g. `--budget 100`), else `--set PATH=VALUE`.
    """
    data = copy.deepcopy(data)
    problems = []
    for i, item in enumerate(assignments):
        path_text, eq, value_text = item.partition("=")
        parts: list[str | int] = [int(t[1:-1]) if t.startswith("[") else t
                                  for t in re.findall(r"[^.\[\]]+|\[\d+\]", path_text.strip())]
        if not eq or not parts:
            problems.append(Problem(file, "", f"expected PATH=VALUE, e.g. budget=120000 or "
                                    f"lines.meta-awareness.max=50000; got {item!r}"))
            continue
        made: list[PathKey] = []
        place = _place(data, parts, made)
        if isinstance(place, str):
            problems.append(Problem(file, path_text.strip(), place))
            continue
        node, key, path = place
        node[key] = _parse_value(value_text, f"{file} {item[:40]}")
        if blame is not None:
            for p in (*made, path):
                blame[p] = labels[i] if labels else f"{file} {item}"
    if problems:
        raise ScenarioError(problems)
    return data


def load_scenario(path: str | Path, overrides: list[str] | None = None,
                  labels: list[str] | None = None) -> Scenario:
    """Load and validate a scenario file (.yaml, .yml or .toml), with optional overrides
    (`PATH=VALUE`, named in errors by `labels`, e.g. `--budget 100`, else `--set ...`).

    A mistake the overrides cause is blamed on them, not on a line of the file: a field
    they set, and a finding across fields (minimums above the budget, ...) that the file
    alone does not have."""
    source = read_source(path)
    if not overrides:
        return scenario_from_data(source.data, source.file, source)
    labels = labels or [f"--set {item}" for item in overrides]
    blame: dict[PathKey, str] = {}
    data = apply_overrides(source.data, overrides, blame=blame, labels=labels)
    try:
        return scenario_from_data(data, source.file,
                                  Source(source.file, data, source.lines, blame))
    except ScenarioError as exc:
        raise ScenarioError(_blame_overrides(exc.problems, source, overrides, labels)) \
            from None


def _problem_paths(source: Source, overrides: list[str]) -> set[str]:
    """The paths of the problems the file has with these overrides (none: the file's)."""
    try:
        data = apply_overrides(source.data, overrides) if overrides else source.data
        scenario_from_data(data, source.file, Source(source.file, data, source.lines))
    except ScenarioError as exc:
        return {p.path for p in exc.problems}
    return set()


def _blame_overrides(problems: list[Problem], source: Source, overrides: list[str],
                     labels: list[str]) -> list[Problem]:
    """Problems blamed on a line of the file that the file alone does not have: on the
    overrides that cause them (each alone, else all of them together)."""
    on_file = [p for p in problems if p.line is not None or p.file == source.file]
    if not on_file:
        return problems
    alone = _problem_paths(source, [])
    each = None
    out = []
    for p in problems:
        if p not in on_file or p.path in alone:
            out.append(p)
            continue
        if each is None:
            each = [_problem_paths(source, [o]) for o in overrides] if len(overrides) > 1 \
                else [{p.path for p in problems}]
        culprits = [label for label, paths in zip(labels, each, strict=True)
                    if p.path in paths] or labels
        out.append(Problem(", ".join(culprits), p.path, p.message))
    return out


def load_scenario_text(text: str, file: str = "<text>", fmt: str = "yaml") -> Scenario:
    source = parse_text(text, file, fmt)
    return scenario_from_data(source.data, file, source)


def json_schema() -> dict:
    """JSON Schema of the scenario format, for editor completion."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "allocator scenario"
    return schema
