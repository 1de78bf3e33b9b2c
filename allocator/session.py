"""Live what-if: a scenario held open, re-solved after each change from the last solution.

    >>> s = WhatIf("scenarios/d2c_ecommerce.yaml")
    >>> s.plan.total_spend                        # the base plan
    >>> s.change(budget_scale="+10%").stages      # budget up 10 %
    >>> s.change(drop=["tiktok"])                 # ... and TikTok switched off too
    >>> s.set(unit_cost={"meta": 1.15})           # only this, on the base
    >>> s.reset()

A change is a variant's verbs (see `VariantSpec`); changes accumulate until `reset` (`set`
replaces them all at once), and
`state` is the variant that reproduces the current plan with `allocator compare`. Each
change rebuilds the scenario through the same path as a variant (validation and compiling
take well under a millisecond) and solves it warm-started from the previous solution, so a
what-if's plan is the certified plan of that variant, only sooner.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .errors import AllocatorError
from .plan import Plan, plan_scenario
from .scenario import Scenario, VariantSpec, load_scenario
from .solve import Solution
from .variants import spec_from, variant_scenario

__all__ = ["WhatIf"]

_MAPPINGS = ("fix", "bounds", "bands", "unit_cost", "saturation", "period_budget")
_REMEMBERED = 64  # plans kept for states seen before


class WhatIf:
    """A scenario open for what-if questions. `solve_options` go to `solve` (e.g. tol)."""

    def __init__(self, scenario: Scenario | str | Path, **solve_options: Any):
        self.base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.options = solve_options
        self._state: dict[str, Any] = {}
        self._last: Solution | None = None
        self.seconds = 0.0  # time of the last change, from the change to the certified plan
        self.error: AllocatorError | None = None  # why the last change has no plan
        self._seen: OrderedDict[str, Plan] = OrderedDict()
        self.plan = self._solve(self.base)
        self._remember(spec_from({}), self.plan)

    @property
    def state(self) -> VariantSpec:
        """The changes so far, as a variant (paste it under `variants:` to keep it)."""
        return spec_from(self._state)

    @property
    def scenario(self) -> Scenario:
        return self.plan.scenario

    def _solve(self, sc: Scenario) -> Plan:
        start = time.perf_counter()
        plan = plan_scenario(sc, warm=self._last, **self.options)
        self._last = plan.solution
        self.seconds = time.perf_counter() - start
        return plan

    def _remember(self, spec: VariantSpec, plan: Plan) -> None:
        self._seen[self._key(spec)] = plan
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)

    @staticmethod
    def _key(spec: VariantSpec) -> str:
        return json.dumps(spec.model_dump(mode="json", exclude={"name"}), sort_keys=True)

    def change(self, **verbs: Any) -> Plan:
        """Apply changes (budget=, budget_scale=, drop=[...], fix={line: spend},
        bounds={line: {min, max}}, bands={stage: {min, max}}, unit_cost={name: factor},
        saturation={name: factor}, set=[PATH=VALUE]) on top of the earlier ones and re-solve.
        A mapping merges with the earlier one; `drop` and `set` replace theirs; None removes.

        On an impossible change the previous plan stays, `error` says why, and it raises."""
        state = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._state.items()}
        for key, value in verbs.items():
            if value is None:
                state.pop(key, None)
            elif key in _MAPPINGS and isinstance(value, dict):
                state[key] = {**state.get(key, {}), **value}
            else:
                state[key] = value
        return self._apply(state)

    def set(self, **verbs: Any) -> Plan:
        """Replace all changes by these (relative to the base) and re-solve: what a panel of
        sliders does, each move stating every slider's value."""
        return self._apply({k: v for k, v in verbs.items() if v is not None})

    def _apply(self, state: dict[str, Any]) -> Plan:
        spec = spec_from(state)  # a bad verb raises here, before anything changes
        known = self._seen.get(self._key(spec))
        if known is not None:
            self._state, self.error, self.plan, self.seconds = state, None, known, 0.0
            return known
        try:
            sc = variant_scenario(self.base, spec) if state else self.base
            plan = self._solve(sc)
        except AllocatorError as exc:
            self.error = exc
            raise
        self._state, self.error, self.plan = state, None, plan
        self._remember(spec, plan)
        return plan

    def reset(self) -> Plan:
        """Back to the base scenario."""
        return self.change(**{k: None for k in self._state})
