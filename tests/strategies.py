"""Random whole scenarios for the property harness and the fuzz benchmark.

One generator, `make_case(chooser)`, writes a scenario as the plain data of a YAML file
(every curve family, constraint kind, mode and objective; with and without a baseline;
extreme but valid numbers). It takes its choices from a `Chooser`, so the same code is
driven two ways:

- `case_from_seed(seed)`: a `random.Random(seed)` behind the choices, for
  `benchmarks/fuzz.py` (10,000 reproducible scenarios; a failing seed is rebuilt exactly),
  and `cases()`, the hypothesis strategy that draws the seed (the same distribution);
- `drawn_cases()`: every choice a hypothesis draw, so failures shrink (toward fewer lines
  and features switched off); hypothesis favours first options and the ends of ranges, so
  it explores simple and boundary scenarios rather than the fuzz's mix.

Most scenarios are built around a reference plan `xref`: constraints are derived from it so
that it meets every hard constraint (checked by the independent checker), which makes a
false "no plan" detectable even where the grid oracle is too coarse. "wild" scenarios draw
some constraints without regard to it (they may be infeasible: diagnosis paths).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml
from hypothesis import strategies as st

from allocator.errors import ScenarioError
from allocator.scenario import Scenario, scenario_from_data

from .checks import Checker, ref_curve_from_dict

__all__ = ["Chooser", "RandomChooser", "DrawChooser", "Case", "make_case", "case_from_seed",
           "cases", "drawn_cases", "scenario_yaml"]

DEFAULT_PER = {"awareness": 1000.0, "consideration": 1.0, "conversion": 1.0, "loyalty": 1.0,
               "advocacy": 1.0}
DEFAULT_STAGES = list(DEFAULT_PER)
PLATFORMS = ["meta", "instagram", "tiktok", "youtube", "linkedin", "x", "reddit", "google"]
MARKETS = ["DE", "FR", "US"]
# The ranges the schema accepts (allocator/scenario.py): extreme numbers are drawn up to
# their edges; a scenario outside them is refused by the loader and counted as rejected.
SCALE_MIN, MONEY_MAX = 1e-6, 1e12


def _clamp(v: float) -> float:
    return min(max(v, SCALE_MIN), MONEY_MAX / 10)


# --- choices ---------------------------------------------------------------------------------


class Chooser:
    """The generator's source of randomness. Subclasses give the four primitives."""

    def uniform(self, a: float, b: float) -> float:
        raise NotImplementedError

    def integer(self, a: int, b: int) -> int:
        raise NotImplementedError

    def choice(self, seq):
        raise NotImplementedError

    def chance(self, p: float) -> bool:
        """True with probability p (shrinks toward False)."""
        raise NotImplementedError

    def loguniform(self, a: float, b: float) -> float:
        return math.exp(self.uniform(math.log(a), math.log(b)))

    def weighted(self, options: dict[str, float]) -> str:
        """One key, with probability proportional to its weight (shrinks to the first)."""
        keys = list(options)
        total = sum(options.values())
        u = self.uniform(0.0, total)
        acc = 0.0
        for k in keys:
            acc += options[k]
            if u < acc:
                return k
        return keys[-1]


class RandomChooser(Chooser):
    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def uniform(self, a, b):
        return a if a == b else self.r.uniform(a, b)

    def integer(self, a, b):
        return self.r.randint(a, b)

    def choice(self, seq):
        return self.r.choice(list(seq))

    def chance(self, p):
        return self.r.random() < p


class DrawChooser(Chooser):
    def __init__(self, draw):
        self.draw = draw

    # Numbers are drawn as integers and scaled: hypothesis's own floats crowd at the ends
    # of a range, which would make the first option of every choice the usual one.
    STEPS = 2**20

    def uniform(self, a, b):
        if a == b:
            return a
        k = self.draw(st.integers(0, self.STEPS))
        return min(max(a + (b - a) * k / self.STEPS, a), b)

    def integer(self, a, b):
        return self.draw(st.integers(a, b))

    def choice(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def chance(self, p):
        return self.draw(st.integers(0, 999)) >= 1000 * (1 - p)


# --- numbers as a planner writes them --------------------------------------------------------


def sig(v: float, digits: int = 6, direction: str = "near") -> float:
    """v rounded to `digits` significant digits, toward `direction` (down / up / near)."""
    if v == 0 or not math.isfinite(v):
        return float(v)
    q = 10.0 ** (math.floor(math.log10(abs(v))) - digits + 1)
    if direction == "down":
        r = math.floor(v / q) * q
        while r > v:
            r -= q
    elif direction == "up":
        r = math.ceil(v / q) * q
        while r < v:
            r += q
    else:
        r = round(v / q) * q
    return float(f"{r:.{digits + 2}g}") if direction == "near" else _exact(r, v, direction)


def _exact(r: float, v: float, direction: str) -> float:
    """The short decimal form of r, if it still lies on the right side of v."""
    for d in range(6, 18):
        s = float(f"{r:.{d}g}")
        if (direction == "down" and s <= v) or (direction == "up" and s >= v):
            return s
    return r


def pct(v: float, direction: str) -> str:
    """A share as a percentage string, rounded (to 0.01 %) on the safe side."""
    p = v * 100.0
    p = math.floor(p * 100) / 100 if direction == "down" else math.ceil(p * 100) / 100
    p = min(max(p, 0.0), 100.0)
    return f"{p:g}%"


def share_value(c: Chooser, v: float, direction: str) -> Any:
    v = min(max(v, 0.0), 1.0)
    if c.chance(0.3):
        return pct(v, direction)
    return min(max(sig(v, 6, direction), 0.0), 1.0)


# --- the case --------------------------------------------------------------------------------


@dataclass
class Case:
    """One generated scenario: its file data, a plan known to meet every hard constraint
    (or None), the features it exercises, and the seed that rebuilds it (fuzz only)."""

    data: dict
    xref: list[float] | None = None
    features: tuple[str, ...] = ()
    seed: int | None = None
    error: str | None = None  # the loader refused the generated data (a generator bug)
    notes: list[str] = field(default_factory=list)  # e.g. why the reference plan was dropped
    scenario: Scenario | None = field(default=None, repr=False, compare=False)

    def yaml(self, header: list[str] | None = None) -> str:
        return scenario_yaml(self, header)

    def __repr__(self) -> str:  # hypothesis prints the falsifying example with this
        return "Case(\n" + self.yaml() + ")"


def scenario_yaml(case: Case, header: list[str] | None = None) -> str:
    lines = [f"# property harness scenario{'' if case.seed is None else f', seed {case.seed}'}"]
    lines.append(f"# features: {', '.join(case.features)}")
    if case.xref is not None:
        lines.append(f"# xref (meets every hard constraint): {case.xref}")
    lines += [f"# {h}" for h in (header or [])]
    return "\n".join(lines) + "\n" + yaml.safe_dump(case.data, sort_keys=False,
                                                    default_flow_style=None, width=100)


# --- curves ----------------------------------------------------------------------------------


def _curve(c: Chooser, K: float, u: float, per: float, feats: set) -> dict:
    """A curve whose interesting region is around spend K at about u currency per outcome."""
    V = K / u
    fam = c.weighted({"hill": 3, "exponential": 1.5, "power": 1, "log": 1, "linear": 1,
                      "points": 2, "unit_cost_rise": 1.5, "unit_cost_saturation": 1})
    degenerate = c.chance(0.04)
    if fam == "hill":
        kind = c.weighted({"s>1": 2, "s<1": 1.5, "s=1": 0.5})
        s = {"s>1": lambda: c.uniform(1.05, 4.0), "s<1": lambda: c.uniform(0.3, 0.99),
             "s=1": lambda: 1.0}[kind]()
        k = K * c.uniform(0.3, 3.0)
        if degenerate:
            which = c.choice(["k-tiny", "s-steep", "s-flat", "k-at-floor"])
            feats.add(f"degenerate-{which}")
            if which == "k-tiny":
                k = K * 1e-9
            elif which == "k-at-floor":
                k = SCALE_MIN
            elif which == "s-steep":
                s = c.uniform(8.0, 10.0)
            else:
                s = c.uniform(0.1, 0.15)
        feats.add("s-curves" if s > 1 else "hill-concave")
        spec = {"type": "hill", "vmax": sig(_clamp(V * c.uniform(1.2, 5.0))), "k": sig(_clamp(k)),
                "s": sig(s, 4)}
    elif fam == "exponential":
        k = K * c.uniform(0.3, 3.0)
        if degenerate:
            feats.add("degenerate-exp-k")
            k = K * 1e-7
        spec = {"type": "exponential", "vmax": sig(_clamp(V * c.uniform(1.0, 5.0))),
                "k": sig(_clamp(k))}
    elif fam == "power":
        b = 1.0 if c.chance(0.1) else c.uniform(0.15, 1.0)
        if degenerate:
            feats.add("degenerate-power-b")
            b = c.uniform(0.01, 0.03)
        b = min(sig(b, 4), 1.0)
        spec = {"type": "power", "a": sig(V / K ** b), "b": b}
    elif fam == "log":
        k = K * c.loguniform(0.01, 1.0)
        if degenerate:
            feats.add("degenerate-log-k")
            k = K * 1e-8
        spec = {"type": "log", "a": sig(_clamp(V / math.log1p(K / k))), "k": sig(_clamp(k))}
    elif fam == "linear":
        spec = {"type": "linear"}
        if c.chance(0.3):
            own = c.choice([1.0, 1000.0])
            spec["unit_cost"] = sig(u * own)
            spec["per"] = own
        else:
            spec["unit_cost"] = sig(u * per)
        if c.chance(0.65):
            spec["cap"] = sig(V * c.uniform(0.3, 2.0))
            feats.add("linear-cap")
    elif fam == "points":
        m = c.integer(2, 7)
        start = 0.0 if c.chance(0.75) else K * c.uniform(0.05, 0.8)
        xs = [start]
        for _ in range(m - 1):
            xs.append(xs[-1] + K * c.uniform(0.05, 1.5))
        shape = c.choice(["concave", "convex", "s", "flat", "random"])
        ys = [0.0]
        for j in range(1, m):
            dx = xs[j] - xs[j - 1]
            if shape == "concave":
                slope = (1.0 / u) * 0.7 ** j
            elif shape == "convex":
                slope = (1.0 / u) * 0.4 * 1.5 ** j
            elif shape == "s":
                slope = (1.0 / u) * (0.3 if j in (1, m - 1) else 1.2)
            elif shape == "flat":
                slope = 0.0 if c.chance(0.4) else 1.0 / u
            else:
                slope = c.uniform(0.0, 2.0) / u
            ys.append(ys[-1] + slope * dx)
        if ys[-1] <= 0:
            ys[-1] = V
        if start == 0.0 and c.chance(0.3):
            off = V * c.uniform(0.02, 0.3)  # an outcome at spend 0 (accepted by the schema)
            ys = [y + off for y in ys]
            feats.add("points-outcome-at-zero")
        if start > 0:
            feats.add("points-start-above-zero")
            if c.chance(0.3):
                ys = [y + V * 0.1 for y in ys]
        spend = [sig(x) for x in xs]
        for j in range(1, m):  # rounding must keep them strictly increasing
            if spend[j] <= spend[j - 1]:
                spend[j] = sig(spend[j - 1] * (1 + 1e-5), direction="up")
        out = [sig(y) for y in ys]
        for j in range(1, m):
            out[j] = max(out[j], out[j - 1])
        if out[-1] <= (out[0] if spend[0] == 0 else 0):
            out[-1] = sig(out[0] + V, direction="up")
        spec = {"type": "points", "spend": spend, "outcome": out}
        feats.add(f"points-{shape}")
    elif fam == "unit_cost_rise":
        r = 0.0 if c.chance(0.05) else c.uniform(0.01, 0.9)
        rise: Any = sig(r, 4)
        if c.chance(0.3):
            rise = f"{round(r * 100, 1):g}%"
        spec = {"type": "unit_cost_rise", "unit_cost": sig(u * per),
                "at_spend": sig(K * c.uniform(0.2, 3.0)), "rise_per_doubling": rise}
    else:
        spec = {"type": "unit_cost_saturation", "unit_cost": sig(u * per * c.uniform(0.3, 1.0)),
                "saturation": sig(V * c.uniform(1.0, 5.0))}
    feats.add(f"curve-{fam}")
    if c.chance(0.12):
        spec["cost_scale"] = sig(c.uniform(0.7, 1.4), 3)
        feats.add("cost_scale")
    if c.chance(0.12):
        spec["size_scale"] = sig(c.uniform(0.5, 2.0), 3)
        feats.add("size_scale")
    if c.chance(0.1):
        spec["spread"] = f"{c.integer(5, 40)}%"
    elif c.chance(0.05):
        spec["low"], spec["high"] = sig(c.uniform(0.7, 1.0), 3), sig(c.uniform(1.0, 1.3), 3)
    return spec


# --- selectors -------------------------------------------------------------------------------


def _matches(sel: dict, line: dict) -> bool:
    for key, want in sel.items():
        have = line.get(key, "paid" if key == "kind" else None)
        values = want if isinstance(want, list) else [want]
        if have not in values:
            return False
    return True


def _selector(c: Chooser, lines: list[dict], names: list[str]) -> dict:
    line = c.choice(range(len(lines)))
    ln = lines[line]
    kind = c.weighted({"all": 1.5, "stage": 3, "platform": 1.5, "stages": 1, "name": 1,
                       "market": 0.5, "kind": 0.5, "stage+platform": 0.7})
    if kind == "all":
        return {}
    if kind == "stage":
        return {"stage": ln["stage"]}
    if kind == "platform":
        return {"platform": ln["platform"]}
    if kind == "stages":
        other = c.choice([x["stage"] for x in lines])
        return {"stage": sorted({ln["stage"], other})}
    if kind == "name":
        return {"name": names[line]}
    if kind == "market" and ln.get("market"):
        return {"market": ln["market"]}
    if kind == "kind":
        return {"kind": ln.get("kind", "paid")}
    if kind == "stage+platform":
        return {"stage": ln["stage"], "platform": ln["platform"]}
    return {"stage": ln["stage"]}


# --- the scenario ----------------------------------------------------------------------------


def make_case(c: Chooser, seed: int | None = None) -> Case:
    feats: set[str] = set()
    wild = c.chance(0.2)
    if wild:
        feats.add("wild")
    scale = 1.0
    if c.chance(0.15):
        scale = 10.0 ** c.choice([-3, -2, 2, 4, 5])
        feats.add("extreme-scale")
    n = c.integer(2, 6)

    # stages: omitted (all five, values on lines), a list, or a mapping with values
    stage_mode = c.weighted({"map": 3, "omitted": 1, "list": 1, "custom": 1})
    feats.add(f"stages-{stage_mode}")
    if stage_mode in ("omitted",):
        declared = list(DEFAULT_STAGES)
    else:
        k = c.integer(1, 4)
        declared = []
        for _ in range(k):
            s = c.choice(DEFAULT_STAGES)
            if s not in declared:
                declared.append(s)
        if stage_mode == "custom":
            declared.append("leads")
    per = {s: DEFAULT_PER.get(s, 1.0) for s in declared}
    if stage_mode == "custom" and c.chance(0.5):
        per["leads"] = 10.0
    use = declared if c.chance(0.8) else declared[: max(1, len(declared) - 1)]

    n_platforms = c.integer(1, min(4, n))
    platforms: list[str] = []
    for _ in range(n_platforms):
        p = c.choice(PLATFORMS)
        if p not in platforms:
            platforms.append(p)

    lines: list[dict] = []
    K = []  # the spend scale of each line
    names: list[str] = []
    used_names: set[str] = set()
    for _ in range(n):
        stage = c.choice(use)
        platform = c.choice(platforms)
        line: dict[str, Any] = {}
        market = c.choice(MARKETS) if c.chance(0.25) else None
        period = c.choice(["2027-Q1", "2027-Q2"]) if c.chance(0.05) else None
        base_name = "-".join(t for t in (platform, stage, market) if t)
        name = base_name
        j = 2
        while name in used_names:
            name = f"{base_name}-{j}"
            j += 1
        auto = name == base_name and c.chance(0.15)  # let the loader name it
        auto_name = "-".join(t for t in (stage, platform, market, period) if t)
        if auto and auto_name not in used_names:
            name = auto_name
            feats.add("auto-names")
        else:
            line["name"] = name
        used_names.add(name)
        names.append(name)
        line["stage"] = stage
        line["platform"] = platform
        if market:
            line["market"] = market
        if period:
            line["period"] = period
            feats.add("period-tag")
        if c.chance(0.1):
            line["kind"] = "owned"
            feats.add("kind-owned")
        k_i = scale * c.loguniform(1e3, 1e5)
        u_i = c.loguniform(0.05, 200.0)
        if c.chance(0.07):
            k_i = min(k_i * c.loguniform(1e-3, 1e3), 1e10)
            u_i = max(c.loguniform(1e-5, 1e5), k_i / 1e10)
            feats.add("extreme-line")
        K.append(k_i)
        line["curve"] = _curve(c, k_i, u_i, per[stage], feats)
        lines.append(line)

    curves = [ref_curve_from_dict(ln["curve"], per[ln["stage"]]) for ln in lines]

    # the reference plan
    xref = []
    for i in range(n):
        xref.append(0.0 if c.chance(0.25) else sig(K[i] * c.loguniform(0.05, 3.0)))
    if not any(xref):
        xref[0] = sig(K[0])
    T = float(sum(xref))

    # values: about `roi` currency of value per currency at the line's own scale
    def worth(i: int) -> float:
        y = float(curves[i].value(K[i]))
        roi = c.loguniform(0.3, 6.0)
        return sig(min(roi * K[i] / y, 1e9), 4) if y > 0 else 1.0

    stages_data: Any
    if stage_mode == "omitted":
        stages_data = None
    elif stage_mode == "list":
        stages_data = list(declared)
    else:
        stages_data = {}
        for s in declared:
            spec: dict[str, Any] = {}
            members = [i for i in range(n) if lines[i]["stage"] == s]
            if s == "leads":
                spec.update({"kpi": "leads", "unit_cost_label": "CPL"})
                if per["leads"] != 1.0:
                    spec["per"] = per["leads"]
            if members and c.chance(0.85):
                v = worth(members[0])
                if c.chance(0.6):
                    spec["revenue_per_outcome"] = sig(v * c.uniform(0.6, 1.5), 4)
                if c.chance(0.8) or "revenue_per_outcome" not in spec:
                    spec["value_per_outcome"] = v
            elif not members and c.chance(0.5):
                spec["value_per_outcome"] = sig(c.loguniform(0.01, 100), 4)
            if not members and s != "leads" and not spec:
                feats.add("stage-without-lines")
            stages_data[s] = spec
    for i, ln in enumerate(lines):
        staged = isinstance(stages_data, dict) and stages_data.get(ln["stage"], {}).get(
            "value_per_outcome") is not None
        if not staged or c.chance(0.3):
            if c.chance(0.92):
                v = worth(i)
                ln["value_per_outcome"] = v
                if c.chance(0.5):
                    ln["revenue_per_outcome"] = sig(v * c.uniform(0.6, 1.5), 4)
            else:
                feats.add("line-without-value")

    platforms_data: Any = list(platforms)
    if c.chance(0.1):
        platforms_data = {p: ({"label": p.title()} if c.chance(0.5) else {}) for p in platforms}

    base: dict[str, Any] = {"name": f"property scenario{'' if seed is None else f' {seed}'}",
                            "currency": c.choice(["EUR", "USD", "eur", "IDR"])}
    if stages_data is not None:
        base["stages"] = stages_data
    base["platforms"] = platforms_data
    base["lines"] = lines

    # what the reference plan does, on the independent curves and the loader's values
    try:
        probe = scenario_from_data({**base, "budget": {"max": MONEY_MAX}, "objective": "value"},
                                   file="<probe>")
    except ScenarioError as exc:
        return Case(base, None, tuple(sorted(feats)), seed, error=str(exc))
    chk = Checker(probe)
    X = np.array(xref, dtype=float)
    Y = chk.outcomes(X)[0]
    D = chk.slopes(X)[0]
    rev = chk.rev

    tagged = [{**ln, "name": nm} for ln, nm in zip(lines, names, strict=True)]

    def mask(sel: dict) -> np.ndarray:
        return np.array([_matches(sel, ln) for ln in tagged], dtype=bool)

    def near(v: float, direction: str) -> float:
        return sig(v, 6, direction)

    # objective and mode
    goal = c.weighted({"value": 3, "profit": 2, "conversions": 2, "revenue": 1.2,
                       "min_spend": 1.5})
    mode_target = goal != "min_spend" and c.chance(0.15)
    feats.add(f"goal-{goal}")

    # budget
    if goal == "min_spend":
        bkind = c.weighted({"none": 5, "max": 3, "exact": 1, "range": 1})
    elif mode_target:
        bkind = c.weighted({"max": 4, "range": 1})
    else:
        bkind = c.weighted({"exact": 4.5, "max": 3.5, "range": 2})
    feats.add(f"budget-{bkind}")
    budget: Any = None
    bmax = math.inf
    if bkind == "exact":
        budget = T if c.chance(0.8) else {"min": T, "max": T}
        bmax = T
        if wild and c.chance(0.3):
            budget = bmax = near(T * c.uniform(0.5, 1.5), "near")
    elif bkind == "max":
        bmax = near(T * c.uniform(1.0, 2.0), "up")
        if wild and c.chance(0.3):
            bmax = near(T * c.uniform(0.5, 1.2), "near")
        budget = {"max": bmax}
    elif bkind == "range":
        lo = near(T * c.uniform(0.5, 1.0), "down")
        bmax = near(T * c.uniform(1.0, 1.5), "up")
        budget = {"min": lo, "max": bmax}

    # per-line bounds
    for i, ln in enumerate(lines):
        if c.chance(0.3):
            top = xref[i] * c.uniform(1.0, 3.0) if xref[i] > 0 else K[i] * c.uniform(0.1, 2)
            if wild and c.chance(0.4):
                top = K[i] * c.uniform(0.05, 2.0)
            ln["max"] = near(min(top, bmax), "up") if top <= bmax else bmax
            feats.add("line-max")
        if c.chance(0.15) and xref[i] > 0:
            ln["min"] = near(xref[i] * c.uniform(0.2, 1.0), "down")
            feats.add("line-min")
        if c.chance(0.3):
            if xref[i] > 0:
                thr = xref[i] * c.uniform(0.3, 1.0)
            else:
                thr = K[i] * c.uniform(0.2, 2.0)
            if wild and c.chance(0.4):
                thr = K[i] * c.uniform(0.2, 3.0)
            thr = min(thr, ln.get("max", math.inf), bmax)
            if thr > 0:
                ln["min_if_active"] = near(thr, "down")
                feats.add("min_if_active")
        if "min" in ln and "max" in ln and ln["min"] > ln["max"]:
            ln["min"] = ln["max"]
        if "min" in ln and ln["min"] > bmax:
            ln["min"] = bmax

    # constraints on groups
    constraints: list[dict] = []

    def slack(v: float, direction: str, lo: float = 0.3, hi: float = 1.0) -> float:
        """A bound on v that the reference plan meets (or, in wild scenarios, may not)."""
        f = c.uniform(lo, hi)
        if wild and c.chance(0.35):
            f = c.uniform(0.4, 2.5)
            return near(v * f, "near")
        return near(v * f, "down") if direction == "down" else near(v / f, "up")

    kinds = ["share", "spend", "outcome_min", "outcome_max", "cpa_max", "roas_min",
             "marginal_roas_min", "max_active"]
    n_cons = c.integer(0, 4)
    for _ in range(n_cons):
        kind = c.choice(kinds)
        sel = _selector(c, lines, names)
        m = mask(sel)
        spend, out = float(X[m].sum()), float(Y[m].sum())
        cons: dict[str, Any] = {"select": sel} if (sel or c.chance(0.7)) else {}
        if c.chance(0.2):
            cons["name"] = f"{kind} rule {len(constraints) + 1}"
        if kind == "share":
            g = spend / T
            rng: dict[str, Any] = {}
            if c.chance(0.7):
                rng["min"] = share_value(c, g * c.uniform(0.3, 1.0) if not wild
                                         else c.uniform(0, 1), "down")
            if c.chance(0.6) or not rng:
                hi = g + (1 - g) * c.uniform(0.0, 1.0) if not wild else c.uniform(0, 1)
                rng["max"] = share_value(c, hi, "up")
            if "min" in rng and "max" in rng and _pct_of(rng["min"]) > _pct_of(rng["max"]):
                rng["min"], rng["max"] = rng["max"], rng["min"]
            cons["share"] = rng
        elif kind == "spend":
            rng = {}
            if c.chance(0.6):
                rng["min"] = slack(spend, "down")
            if c.chance(0.6) or not rng:
                rng["max"] = slack(spend, "up") if spend > 0 else near(T * 0.5, "up")
            if "min" in rng and "max" in rng and rng["min"] > rng["max"]:
                rng["min"], rng["max"] = rng["max"], rng["min"]
            cons["spend"] = rng
        elif kind == "outcome_min":
            if out <= 0:
                continue
            cons["outcome"] = {"min": slack(out, "down")}
        elif kind == "outcome_max":
            if out <= 0:
                cons["outcome"] = {"max": near(float(sum(curves[i].value(K[i])
                                                         for i in np.flatnonzero(m))), "up")}
            else:
                cons["outcome"] = {"max": slack(out, "up", 0.5, 1.0)}
                if c.chance(0.3):
                    cons["outcome"]["min"] = min(slack(out, "down"), cons["outcome"]["max"])
        elif kind == "cpa_max":
            if out <= 0 or spend <= 0:
                continue
            cons["cpa_max"] = slack(spend / out, "up", 0.6, 1.0)
        elif kind == "roas_min":
            r = float((rev[m] * Y[m]).sum())
            if spend <= 0 or r <= 0:
                continue
            cons["roas_min"] = slack(r / spend, "down", 0.5, 1.0)
        elif kind == "marginal_roas_min":
            act = [i for i in np.flatnonzero(m) if X[i] > 0]
            ms = [rev[i] * D[i] for i in act]
            if ms and (min(ms) <= 0 or not math.isfinite(min(ms))):
                if not wild:
                    continue
            if ms and min(ms) > 0 and math.isfinite(min(ms)):
                cons["marginal_roas_min"] = slack(min(ms), "down", 0.3, 1.0)
            else:
                cons["marginal_roas_min"] = sig(c.loguniform(0.05, 3.0), 4)
        elif kind == "max_active":
            active = int((X[m] > 0).sum())
            k_max = c.integer(max(active, 1), max(active, 1) + 2)
            if wild and c.chance(0.4):
                k_max = c.integer(1, max(1, int(m.sum())))
            cons["max_active"] = k_max
        feats.add(f"c-{kind}")
        if "select" not in cons:
            feats.add("select-omitted")
        constraints.append(cons)

    # objective: min_spend needs a KPI floor; revenue needs revenue
    if goal == "min_spend" and not any("outcome" in x and "min" in x["outcome"]
                                       for x in constraints):
        sel = _selector(c, lines, names)
        out = float(Y[mask(sel)].sum())
        if out <= 0:
            sel = {"name": names[int(np.argmax(X))]}
            out = float(Y[mask(sel)].sum())
        constraints.append({"select": sel, "outcome": {"min": slack(max(out, 1e-9), "down")}})
        feats.add("c-outcome_min")
    if goal == "revenue" and not np.any(rev > 0):
        lines[0]["revenue_per_outcome"] = sig(c.loguniform(0.5, 50), 4)

    # pools: a group's outcome at most rate x an upstream group's outcome
    pools = []
    if c.chance(0.2) and len({ln["stage"] for ln in lines}) >= 2:
        a_sel = {"stage": lines[c.choice(range(n))]["stage"]}
        others = sorted({ln["stage"] for ln in lines} - {a_sel["stage"]})
        s_sel = {"stage": c.choice(others)}
        a_out, s_out = float(Y[mask(a_sel)].sum()), float(Y[mask(s_sel)].sum())
        if s_out > 0:
            rate = a_out / s_out * c.uniform(1.0, 2.0) if a_out > 0 else c.loguniform(1e-3, 1)
            if wild and c.chance(0.4):
                rate *= c.uniform(0.3, 1.0)
            pools.append({"lines": a_sel, "source": s_sel, "rate": near(max(rate, 1e-9), "up")})
            feats.add("pools")

    # guidelines: preset bands, hard (around the reference plan's shares) or soft
    guidelines = None
    if c.chance(0.25):
        enforce = c.choice(["soft", "hard"])
        g: dict[str, Any] = {}
        if c.chance(0.85):
            g["preset"] = "paid-social-funnel"
        else:
            g["preset"] = None
        g["enforce"] = enforce
        bands = {}
        preset_stages = [s for s in ("awareness", "consideration", "conversion")
                         if s in declared and g["preset"]]
        if enforce == "hard":
            extra = [c.choice(declared)] if c.chance(0.3) or not g["preset"] else []
            for s in preset_stages + extra:
                share = float(X[[ln["stage"] == s for ln in lines]].sum()) / T
                lo = share * c.uniform(0.3, 1.0)
                hi = share + (1 - share) * c.uniform(0.05, 1.0)
                if wild and c.chance(0.3):
                    lo, hi = sorted((c.uniform(0, 1), c.uniform(0, 1)))
                bands[s] = {"min": share_value(c, lo, "down"), "max": share_value(c, hi, "up")}
        else:
            g["penalty_per_point"] = near(max(T, 1e-9) * c.loguniform(1e-5, 1e-2), "near")
            if c.chance(0.3) or not g["preset"]:
                s = c.choice(declared)
                lo = c.uniform(0, 0.6)
                bands[s] = {"min": share_value(c, lo, "down"),
                            "max": share_value(c, lo + c.uniform(0, 0.4), "up")}
        if bands:
            g["bands"] = bands
        guidelines = g
        feats.add(f"guidelines-{enforce}")

    objective: Any = goal
    if goal == "conversions":
        conv = [i for i in range(n) if lines[i]["stage"] == "conversion"]
        if not conv or "conversion" not in declared or c.chance(0.3):
            sel = _selector(c, lines, names)
            objective = {"goal": "conversions", "select": sel}
            feats.add("conversions-select")

    data: dict[str, Any] = dict(base)
    if budget is not None:
        data["budget"] = budget
    data["objective"] = objective
    if mode_target:
        sel = _selector(c, lines, names) if c.chance(0.6) else {}
        m = mask(sel)
        spend, out = float(X[m].sum()), float(Y[m].sum())
        r = float((rev[m] * Y[m]).sum())
        target: dict[str, Any] = {"select": sel} if sel else {}
        if (c.chance(0.5) or r <= 0) and out > 0 and spend > 0:
            target["cpa_max"] = slack(spend / out, "up", 0.6, 1.0)
        elif r > 0 and spend > 0:
            target["roas_min"] = slack(r / spend, "down", 0.5, 1.0)
        else:
            target["cpa_max"] = sig(c.loguniform(0.1, 100) * scale, 4)
        data["mode"] = "target_efficiency"
        data["target"] = target
        feats.add("mode-target-" + ("cpa" if "cpa_max" in target else "roas"))
    if constraints:
        data["constraints"] = constraints
    if pools:
        data["pools"] = pools
    if guidelines:
        data["guidelines"] = guidelines

    # baseline: none, the reference plan, a random plan (maybe infeasible), or partial
    bl = c.weighted({"none": 4, "reference": 3, "random": 2, "partial": 1})
    feats.add(f"baseline-{bl}")
    if bl != "none":
        for i, ln in enumerate(lines):
            if bl == "reference":
                ln["baseline"] = xref[i]
            elif bl == "random":
                ln["baseline"] = 0.0 if c.chance(0.2) else near(K[i] * c.uniform(0, 2), "near")
            elif c.chance(0.5):
                ln["baseline"] = xref[i] if c.chance(0.5) else near(K[i] * c.uniform(0, 2),
                                                                     "near")

    case = Case(data, [float(v) for v in xref], tuple(sorted(feats)), seed)
    try:
        case.scenario = scenario_from_data(data, file=f"<case {seed}>")
    except ScenarioError as exc:
        case.error = str(exc)
        case.xref = None
        return case
    broken = Checker(case.scenario).messages(np.array(xref), rel=1e-9)
    if broken:
        case.notes = [f"xref {xref} breaks: " + "; ".join(broken)]
        case.xref = None
        case.features = tuple(sorted(feats | {"xref-broken"}))
    return case


def _pct_of(v: Any) -> float:
    if isinstance(v, str):
        return float(v.rstrip("%")) / 100.0
    return float(v)


def case_from_seed(seed: int) -> Case:
    """The fuzz benchmark's scenario number `seed` (the same on every machine)."""
    return make_case(RandomChooser(seed), seed)


@st.composite
def cases(draw) -> Case:
    """Hypothesis strategy: the fuzz benchmark's scenario for a drawn seed (the same
    distribution as `benchmarks/fuzz.py`; a failure names its seed, which rebuilds it)."""
    from hypothesis import assume

    case = case_from_seed(draw(st.integers(0, 2**31 - 1)))
    assume(case.error is None)
    return case


@st.composite
def drawn_cases(draw) -> Case:
    """Hypothesis strategy with every choice a hypothesis draw: failures shrink (toward
    fewer lines, features off, ends of ranges), but hypothesis's draws crowd at the first
    option and at the ends of ranges, so these scenarios are simpler than `cases()`."""
    from hypothesis import assume

    case = make_case(DrawChooser(draw))
    assume(case.error is None)
    return case
