"""`allocator plan SCENARIO --out DIR` with every sensitivity analysis, timed per example
scenario, and where the time goes: loading and solving the plan, the analyses' re-solves
(all queued together on one executor, as the command runs them), writing the folder
(tables, workbook, 7 charts as PNG and SVG, the report with its PNGs).

    python benchmarks/plan_out.py [--scheduler S] [--cli] [--breakdown] [SCENARIO ...]

--scheduler: auto (default, as the command), in-process, processes, local, or an address.
--cli: also time the command itself in a fresh process (interpreter start and imports
included): what a planner waits for.
--breakdown: also each analysis alone in this process, in CPU seconds (not disturbed by
other programs on the machine), with its number of solves.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def phases(path: Path, scheduler: str | None) -> dict[str, float]:
    from allocator.analysis import pool
    from allocator.analysis.suite import run_analyses
    from allocator.outputs.folders import write_plan_folder
    from allocator.plan import plan_scenario
    from allocator.scenario import load_scenario

    out: dict[str, float] = {}
    t = time.perf_counter()
    sc = load_scenario(path)
    plan = plan_scenario(sc)
    out["solve"] = time.perf_counter() - t
    t = time.perf_counter()
    with pool.executor(scheduler) as session:
        analyses = run_analyses(sc, plan)
        out["where"] = session.name
    out["analyses"] = time.perf_counter() - t  # workers started and stopped included
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_plan_folder(plan, Path(tmp) / "out", analyses=analyses, source=path)
        out["write"] = time.perf_counter() - t
    out["total"] = out["solve"] + out["analyses"] + out["write"]
    return out


def breakdown(path: Path) -> str:
    from allocator.analysis import pool
    from allocator.analysis.suite import KINDS, run_analyses
    from allocator.plan import plan_scenario
    from allocator.scenario import load_scenario

    sc = load_scenario(path)
    plan = plan_scenario(sc)
    parts = []
    with pool.executor("in-process"):
        for kind in KINDS:
            c = time.process_time()
            run_analyses(sc, plan, (kind,))
            parts.append(f"{kind} {time.process_time() - c:.1f}")
    return "CPU s in-process: " + ", ".join(parts)


def cli(path: Path, scheduler: str | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "allocator", "plan", str(path), "--out",
               str(Path(tmp) / "out")]
        if scheduler:
            cmd += ["--scheduler", scheduler]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenarios", nargs="*", type=Path)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--cli", action="store_true")
    ap.add_argument("--breakdown", action="store_true")
    args = ap.parse_args()
    paths = args.scenarios or sorted(p for p in (ROOT / "scenarios").glob("*.*")
                                     if p.suffix in (".yaml", ".toml"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    cols = ["solve", "analyses", "write", "total"]
    print(f"{'scenario':>26} {'analyses ran':>22} " + " ".join(f"{c:>9}" for c in cols)
          + (f" {'cli':>7}" if args.cli else ""))
    for path in paths:
        f = phases(path, args.scheduler)
        line = f"{path.name:>26} {f['where']:>22} " + " ".join(f"{f[c]:>8.1f}s" for c in cols)
        if args.cli:
            line += f" {cli(path, args.scheduler):>6.1f}s"
        print(line, flush=True)
        if args.breakdown:
            print(f"{'':>26} {breakdown(path)}", flush=True)


if __name__ == "__main__":
    main()
