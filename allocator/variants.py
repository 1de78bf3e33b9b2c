"""Variants: named what-ifs on a scenario, turned into scenarios of their own.

A variant is a list of planner verbs (scale the budget, drop a platform, fix a line, move a
guideline band, scale a unit cost or an audience) and `PATH=VALUE` overrides. Each verb
edits the base scenario's data; the result is validated like any scenario file, so a
variant's plan is exactly the plan of the file a planner would have written by hand.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import Problem, ScenarioError
from .scenario import (
    Scenario,
    VariantSpec,
    apply_overrides,
    check_variant_names,
    did_you_mean,
    problems_from,
    scenario_from_data,
)
from .source import Source, format_path, read_source

__all__ = ["Variant", "apply_variant", "load_variants", "variant_scenario"]


@dataclass(frozen=True)
class Variant:
    label: str  # "base", a variant's name, or "file:variant" for a second file
    scenario: Scenario
    description: str = ""
    spec: VariantSpec | None = None  # None for a file's own base

    @property
    def changes(self) -> str:
        """The variant's verbs in words: 'budget x1.10; drop tiktok'."""
        return describe(self.spec) if self.spec else ""


def _pct(v: float | None) -> str:
    return "open" if v is None else f"{v:.0%}"


def describe(spec: VariantSpec) -> str:
    out = []
    if spec.budget is not None:
        out.append(f"budget {spec.budget:,.0f}")
    if spec.budget_scale is not None:
        out.append(f"budget x{spec.budget_scale:.2f}")
    out += [f"drop {name}" for name in spec.drop]
    out += [f"fix {name} at {v:,.0f}" for name, v in spec.fix.items()]
    out += [f"{name} spend {r.min or 0:,.0f} to " + ("open" if r.max is None else f"{r.max:,.0f}")
            for name, r in spec.bounds.items()]
    out += [f"{stage} band {_pct(b.min)} to {_pct(b.max)}" for stage, b in spec.bands.items()]
    out += [f"{label} budget x{f:.2f}" for label, f in spec.period_budget.items()]
    out += [f"{name} unit cost x{f:.2f}" for name, f in spec.unit_cost.items()]
    out += [f"{name} audience x{f:.2f}" for name, f in spec.saturation.items()]
    out += list(spec.set)
    return "; ".join(out)


def _matching(sc: Scenario, name: str) -> list[int]:
    """Lines a verb's name picks: the line of that name, or every line on that platform or
    in that stage."""
    return [i for i, line in enumerate(sc.lines)
            if name in (line.name, line.platform, line.stage)]


def apply_variant(base: Scenario, data: dict, spec: VariantSpec, where: str = "variant"
                  ) -> dict:
    """The base scenario's data with a variant's verbs applied (a new copy)."""
    data = copy.deepcopy(data)
    data.pop("variants", None)
    lines = data["lines"]
    if spec.budget is not None:
        data["budget"] = spec.budget
    if spec.budget_scale is not None and base.budget is not None:
        b = base.budget
        data["budget"] = {k: v * spec.budget_scale for k, v in (("min", b.min), ("max", b.max))
                          if v is not None}
    for name, factor in spec.unit_cost.items():
        for i in _matching(base, name):
            curve = lines[i]["curve"]
            curve["cost_scale"] = float(curve.get("cost_scale", 1.0)) * factor
    for name, factor in spec.saturation.items():
        for i in _matching(base, name):
            curve = lines[i]["curve"]
            curve["size_scale"] = float(curve.get("size_scale", 1.0)) * factor
    for name, rng in spec.bounds.items():
        for i in _matching(base, name):
            for key in ("min", "max"):
                if getattr(rng, key) is not None:
                    lines[i][key] = getattr(rng, key)
    for name, spend in spec.fix.items():
        for i in _matching(base, name):
            lines[i].update(min=spend, max=spend)
            lines[i].pop("min_if_active", None)
    for name in spec.drop:  # switched off, but kept: the comparison shows it at 0
        for i in _matching(base, name):
            lines[i].update(min=0, max=0)
            lines[i].pop("min_if_active", None)
    if spec.bands:
        guide = data.get("guidelines") or {"preset": None}
        bands = guide.setdefault("bands", {})
        for stage, band in spec.bands.items():
            bands[stage] = {k: v for k, v in band.model_dump().items() if v is not None}
        data["guidelines"] = guide
    if spec.period_budget and base.periods is not None:
        labels = base.periods.labels
        budgets = data["periods"]["budget"]
        for label, factor in spec.period_budget.items():
            key = label if isinstance(budgets, dict) else labels.index(label)
            b = budgets[key]
            if isinstance(b, (int, float)):
                budgets[key] = b * factor
            elif isinstance(b, str):  # a share such as '40%'
                budgets[key] = {"share": min(float(b.strip().rstrip("%")) / 100 * factor, 1.0)}
            else:
                b = dict(b)
                for k in ("min", "max"):
                    if b.get(k) is not None:
                        b[k] = b[k] * factor
                if isinstance(b.get("share"), dict):
                    b["share"] = {k: min(_fraction(v) * factor, 1.0)
                                  for k, v in b["share"].items() if v is not None}
                elif b.get("share") is not None:
                    b["share"] = min(_fraction(b["share"]) * factor, 1.0)
                budgets[key] = b
    if spec.set:
        data = apply_overrides(data, spec.set, file=f"{where}.set")
    return data


def _fraction(v: Any) -> float:
    return float(v.strip().rstrip("%")) / 100 if isinstance(v, str) else float(v)


def variant_scenario(base: Scenario, spec: VariantSpec) -> Scenario:
    """Validate a variant into a scenario; errors name the file and the variant."""
    data = base._source.data if base._source is not None else base.model_dump(exclude_none=True)
    where = f"{base.file}: variants '{spec.name}'"
    found: list = []
    check_variant_names(base.model_copy(update={"variants": [spec]}), found)
    if found:
        raise ScenarioError([Problem(f"{base.file} (variant '{spec.name}')",
                                     format_path(path[2:]), msg) for path, msg in found])
    vdata = apply_variant(base, data, spec, where)
    try:
        return scenario_from_data(vdata, f"{base.file} (variant '{spec.name}')",
                                  Source(base.file, vdata, getattr(base._source, "lines", {})))
    except ScenarioError as exc:
        raise ScenarioError([Problem(p.file, p.path, p.message + " (after the variant's "
                                     "changes)", None) for p in exc.problems]) from None


def _unique(label: str, taken: list[str]) -> str:
    """A file's column label that no other column has ('base.2' beside the base)."""
    k, out = 1, label
    while out in taken:
        k += 1
        out = f"{label}.{k}"
    return out


def load_variants(files: list[str | Path], names: list[str] | None = None) -> list[Variant]:
    """The base of the first file, then its variants, then each further file (its base and
    variants): everything `allocator compare` puts side by side. `names` keeps only the
    variants of those names (bases always stay); an unknown name is an error."""
    out: list[Variant] = []
    known: list[str] = []
    for k, file in enumerate(files):
        source = read_source(file)
        base = scenario_from_data(source.data, source.file, source)
        label = "base" if k == 0 else _unique(Path(file).stem, [v.label for v in out])
        prefix = "" if k == 0 else f"{label}:"
        out.append(Variant(label, base, base.description or base.name))
        for spec in base.variants:
            known.append(spec.name)
            if names and spec.name not in names:
                continue
            out.append(Variant(prefix + spec.name, variant_scenario(base, spec),
                               spec.description or "", spec))
    missing = [n for n in names or [] if n not in known]
    if missing:
        raise ScenarioError([Problem(str(files[0]), format_path(("variants",)),
                                     f"no variant named '{n}'{did_you_mean(n, known)}; "
                                     f"variants: {', '.join(known) or 'none declared'}")
                             for n in missing])
    return out


def spec_from(values: dict[str, Any], name: str = "what-if") -> VariantSpec:
    """A VariantSpec from keyword values (the live session and notebooks)."""
    data = {"name": name, **values}
    try:
        return VariantSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(problems_from(exc, data, "what-if")) from None
