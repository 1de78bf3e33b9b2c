"""Sweep speed: a 50-point budget frontier, the tornado, the guideline price and the whole
report of every example scenario.

    python benchmarks/sweeps.py [--points 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from allocator.analysis import budget_frontier, guideline_price, tornado  # noqa: E402
from allocator.analysis.suite import run_analyses  # noqa: E402
from allocator.outputs.folders import write_plan_folder  # noqa: E402
from allocator.plan import plan_scenario  # noqa: E402
from allocator.scenario import load_scenario  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=50)
    args = ap.parse_args()
    print(f"{'scenario':>28} {'frontier':>9} {'tornado':>8} {'guideline':>9} {'report':>7}"
          f" {'max gap':>8}")
    for path in sorted((ROOT / "scenarios").glob("*.*")):
        if path.suffix not in (".yaml", ".toml"):
            continue
        sc = load_scenario(path)
        plan = plan_scenario(sc)
        p = plan.problem
        t = time.perf_counter()
        fr = budget_frontier(p, points=args.points)
        t_fr = time.perf_counter() - t
        t = time.perf_counter()
        tornado(plan.solution.problem or p, plan.solution)
        t_to = time.perf_counter() - t
        t = time.perf_counter()
        if "awareness" in p.stages:
            guideline_price(p, band=sc.guideline_bands().get("awareness", (0.7, 0.8)))
        t_gl = time.perf_counter() - t
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            full = plan_scenario(load_scenario(path))
            write_plan_folder(full, Path(tmp) / "out", analyses=run_analyses(sc, full),
                              source=path)
        t_rep = time.perf_counter() - t
        print(f"{path.name:>28} {t_fr:>8.1f}s {t_to:>7.1f}s {t_gl:>8.1f}s {t_rep:>6.1f}s"
              f" {fr.table['gap'].max():>8.3%}")


if __name__ == "__main__":
    main()
