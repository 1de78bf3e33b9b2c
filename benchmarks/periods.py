"""Plans over time (#13): solve time and certified gap against periods x lines, and what
choosing the phasing is worth against even phasing on seasonal problems with carryover.

    python benchmarks/periods.py                 # the tables of the issue
    python benchmarks/periods.py --only speed --sizes 3x40,13x40
    python benchmarks/periods.py --only phasing --seeds 7

Speed problems: a funnel of 40 lines (5 stages x 8 platforms; Hill curves, S-shaped on the
lower stages, min_if_active thresholds, carryover 0.2-0.6, seasonality on response and
unit cost, hard guideline bands on the whole plan) or concave lines only (`concave`), the
budget exact over the plan and capped per period. Phasing problems: seven seeded seasonal
problems with carryover, monthly (3 periods) and weekly (13), free vs `phasing: even`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from allocator.plan import plan_scenario
from allocator.problem import compile_problem
from allocator.scenario import scenario_from_data
from allocator.solve import solve

from .common import PLATFORMS, STAGES

VALUE = {"awareness": 0.006, "consideration": 0.4, "conversion": 55.0, "loyalty": 40.0,
         "advocacy": 30.0}
SCALE = {"awareness": 2e6, "consideration": 2e4, "conversion": 500, "loyalty": 300,
         "advocacy": 150}


def periods_scenario(T: int, n_lines: int, seed: int, *, concave: bool = False,
                     guidelines: bool = True, per_line: float = 6000.0) -> dict:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_lines):
        stage, platform = STAGES[i % 5], PLATFORMS[(i // 5) % 8]
        s = 1.0 if concave else float(rng.uniform(0.8, 2.5))
        line = {"name": f"{platform}-{stage}-{i}", "stage": stage, "platform": platform,
                "value_per_outcome": VALUE[stage],
                "curve": {"type": "hill", "vmax": float(SCALE[stage] * rng.uniform(0.5, 2) / 3),
                          "k": float(rng.uniform(3000, 15000)), "s": s},
                "carryover": round(float(rng.uniform(0.2, 0.6)), 2)}
        if not concave and stage in ("conversion", "loyalty", "advocacy"):
            line["min_if_active"] = float(rng.choice([1000, 2000, 3000]))
        lines.append(line)
    labels = [f"P{t + 1:02d}" for t in range(T)]
    season = 1.0 + 0.35 * np.sin(np.linspace(0, 2 * np.pi, T, endpoint=False) + rng.uniform(0, 6))
    budget = per_line * n_lines * T / 3
    data = {
        "name": f"{T} periods x {n_lines} lines", "budget": round(budget),
        "stages": STAGES, "platforms": PLATFORMS, "lines": lines,
        "periods": {"labels": labels,
                    "budget": [{"max": round(1.6 * budget / T)}] * T,
                    "seasonality": [
                        {"response": [round(float(v), 3) for v in season]},
                        {"select": {"platform": "meta"},
                         "cost": [round(float(v), 3) for v in 0.5 + 0.5 * season]}]},
    }
    if guidelines:
        data["guidelines"] = {"preset": "paid-social-funnel", "enforce": "hard"}
    return data


def speed(sizes: list[tuple[int, int]], seeds: int, concave: bool) -> None:
    print(f"{'periods x lines':>16} {'line-periods':>12} {'curves':>8} {'seconds':>8} "
          f"{'status':>9} {'gap':>9} {'solver':>8}")
    for T, L in sizes:
        for seed in range(seeds):
            data = periods_scenario(T, L, seed, concave=concave)
            p = compile_problem(scenario_from_data(data))
            t0 = time.perf_counter()
            sol = solve(p, time_limit=120)
            dt = time.perf_counter() - t0
            print(f"{f'{T} x {L}':>16} {p.n:>12} {'concave' if concave else 'S+thr':>8} "
                  f"{dt:>8.2f} {sol.status:>9} {sol.gap:>9.2e} {sol.method:>8}", flush=True)


def phasing(seeds: int) -> None:
    print(f"{'problem':>12} {'free value':>14} {'even value':>14} {'free - even':>12} "
          f"{'% of free':>10}")
    for T, name in ((3, "monthly"), (13, "weekly")):
        diffs = []
        for seed in range(seeds):
            data = periods_scenario(T, 10, 1000 + seed, concave=True, guidelines=False)
            free = plan_scenario(scenario_from_data(data)).solution
            data["periods"]["phasing"] = "even"
            even = plan_scenario(scenario_from_data(data)).solution
            d = (free.objective - even.objective) / abs(free.objective)
            diffs.append(d)
            print(f"{name + ' ' + str(seed):>12} {free.objective:>14,.0f} "
                  f"{even.objective:>14,.0f} {free.objective - even.objective:>12,.0f} "
                  f"{d:>10.2%}", flush=True)
        print(f"{name:>12} mean {np.mean(diffs):.2%}, min {np.min(diffs):.2%}, "
              f"max {np.max(diffs):.2%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["speed", "concave", "phasing"])
    ap.add_argument("--sizes", default="3x40,13x40,52x40")
    ap.add_argument("--concave-sizes", default="52x1000")
    ap.add_argument("--seeds", type=int, default=2)
    a = ap.parse_args()

    def parse(text: str) -> list[tuple[int, int]]:
        return [tuple(int(v) for v in s.split("x")) for s in text.split(",")]  # type: ignore

    if a.only in (None, "speed"):
        speed(parse(a.sizes), a.seeds, concave=False)
    if a.only in (None, "concave"):
        speed(parse(a.concave_sizes), 1, concave=True)
    if a.only in (None, "phasing"):
        phasing(max(a.seeds, 7) if a.only is None else a.seeds)


if __name__ == "__main__":
    main()
