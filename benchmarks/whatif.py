"""Live what-if speed: time from a change to a new certified plan (WhatIf.change), warm
from the previous solution, against solving the same variant cold.

    python benchmarks/whatif.py [--seeds 3]

Changes, in workshop order: budget +10 %, budget -10 %, the awareness band moved, a line's
ceiling halved, one platform's unit cost +15 %, that platform dropped, everything undone
(a state seen before: the session returns its plan at once; shown apart, not in the median).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from allocator.errors import AllocatorError  # noqa: E402
from allocator.plan import plan_scenario  # noqa: E402
from allocator.scenario import load_scenario, scenario_from_data  # noqa: E402
from allocator.session import WhatIf  # noqa: E402
from allocator.variants import variant_scenario  # noqa: E402
from benchmarks.common import funnel_5x8  # noqa: E402


def changes(sc) -> list[dict]:
    line = sc.lines[0]
    platform = sc.lines[-1].platform
    cap = (line.max or 0.5 * (sc.budget.upper if sc.budget else 1e5)) * 0.5
    out = [{"budget_scale": 1.1}, {"budget_scale": 0.9}]
    if "awareness" in sc.guideline_bands():
        out.append({"bands": {"awareness": {"min": 0.6, "max": 0.7}}})
    out += [{"bounds": {line.name: {"max": cap}}}, {"unit_cost": {platform: 1.15}},
            {"drop": [platform]},
            {"budget_scale": None, "bands": None, "bounds": None, "unit_cost": None,
             "drop": None}]
    return out


def run(name: str, sc, prices: bool) -> tuple[list[float], list[float]]:
    session = WhatIf(sc, prices=prices)
    warm, cold = [], []
    for change in changes(sc):
        try:
            session.change(**change)
        except AllocatorError:  # e.g. a halved ceiling the budget cannot live with: skipped
            continue
        if session.seconds == 0.0:  # remembered state
            continue
        warm.append(session.seconds)
        state = session.state
        target = variant_scenario(sc, state) if state.model_dump(
            exclude_defaults=True, exclude={"name"}) else sc
        t = time.perf_counter()
        again = plan_scenario(target, prices=prices)
        cold.append(time.perf_counter() - t)
        gap = abs(again.solution.objective - session.plan.solution.objective)
        assert gap <= 2e-3 * abs(again.solution.objective) + 1e-6, (name, change, gap)
    return warm, cold


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3, help="5 x 8 problems to time")
    args = ap.parse_args()
    cases = [(p.stem, load_scenario(p)) for p in sorted((ROOT / "scenarios").glob("*.*"))
             if p.suffix in (".yaml", ".toml")]
    cases += [(f"5x8 S-curves hard, seed {s}", scenario_from_data(funnel_5x8(s)))
              for s in range(args.seeds)]
    print(f"{'scenario':>30} {'prices':>6} {'changes':>7} {'warm median':>11} "
          f"{'warm max':>9} {'cold median':>11}")
    for name, sc in cases:
        for prices in (False, True):
            warm, cold = run(name, sc, prices)
            print(f"{name:>30} {'yes' if prices else 'no':>6} {len(warm):>7} "
                  f"{statistics.median(warm):>10.3f}s {max(warm):>8.3f}s "
                  f"{statistics.median(cold):>10.3f}s")


if __name__ == "__main__":
    main()
