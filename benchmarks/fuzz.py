"""Fuzz: N seeded random scenarios through `plan`, each checked against independent code.

Every scenario comes from the same generator as the property tests
(tests/strategies.py, driven by `random.Random(seed)`), so a seed rebuilds its scenario on
any machine. Each runs the public path of `allocator plan` and is judged by
tests/invariants.py: constraints on the exact curves (independent checker), the
certificate against a grid oracle plus local search, no false "no plan", never worse than a
feasible baseline, the reported objective recomputed, curve values against the formulas.

    python benchmarks/fuzz.py [--n 10000] [--seed 0] [--workers 2] [--out DIR]
                              [--time-limit 20] [--seeds 12,345]

Prints the count per invariant, the uncertified results with their gaps and the time per
scenario; writes each failing scenario as `<invariant>-<seed>.yaml` (it runs as it is with
`allocator plan`; its header says what failed) and `summary.json` into --out.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import asdict
from multiprocessing.connection import wait
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.errors import ScenarioError  # noqa: E402
from allocator.scenario import scenario_from_data  # noqa: E402
from tests.invariants import INVARIANTS, Verdict, judge  # noqa: E402
from tests.strategies import Case, case_from_seed  # noqa: E402

OUTCOMES = ("plan", "no plan", "error", "rejected", "exception", "timeout")


def case_from_file(path: str) -> Case:
    """A scenario file as a case; a plan in its header comments (`# xref ...: [...]`, or the
    regression files' `harness-meta`) is taken as known to meet every hard constraint (the
    judge checks it before trusting it)."""
    text = Path(path).read_text()
    xref = None
    for line in text.splitlines():
        if line.startswith("# xref") and ": [" in line:
            xref = json.loads(line[line.index(": [") + 2:])
        elif line.startswith("# harness-meta: "):
            xref = json.loads(line.split(": ", 1)[1]).get("xref")
    data = yaml.safe_load(text)
    case = Case(data, xref, ("file",), None)
    try:
        case.scenario = scenario_from_data(data, file=path)
    except ScenarioError as exc:
        case.error = str(exc)
    return case


def _case(key: int | str) -> Case:
    return case_from_file(key) if isinstance(key, str) else case_from_seed(key)


def _worker(conn, time_limit: float, grid_limit: int, hard_limit: float) -> None:
    warnings.simplefilter("ignore")  # numpy's overflow notes on extreme curves: noise here
    while True:
        seed = conn.recv()
        if seed is None:
            return
        try:
            case = _case(seed)
            v = judge(case, time_limit=time_limit, grid_limit=grid_limit,
                      hard_limit=hard_limit)
            text = case.yaml(v.summary()) if not v.ok or v.outcome == "rejected" else None
        except Exception as exc:  # noqa: BLE001 - the harness itself broke: report it
            v = Verdict(seed, "exception")
            v.fail("exception", f"harness: {type(exc).__name__}: {exc} "
                   f"{traceback.format_exc(limit=-3)}")
            text = None
        conn.send((seed, asdict(v), text))


class Pool:
    """Worker processes, one pipe each, so that one stuck on a scenario can be stopped
    (and replaced) without touching the others."""

    def __init__(self, workers: int, time_limit: float, grid_limit: int, hard_limit: float):
        self.args = (time_limit, grid_limit, hard_limit)
        self.ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
        self.procs: dict[int, tuple] = {}  # slot -> (process, conn, seed, started)
        for slot in range(workers):
            self._start(slot)

    def _start(self, slot: int) -> None:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker, args=(child, *self.args), daemon=True)
        p.start()
        child.close()
        self.procs[slot] = (p, parent, None, 0.0)

    def idle(self) -> list[int]:
        return [s for s, (_, _, seed, _) in self.procs.items() if seed is None]

    def submit(self, slot: int, seed: int) -> None:
        p, conn, _, _ = self.procs[slot]
        conn.send(seed)
        self.procs[slot] = (p, conn, seed, time.perf_counter())

    def collect(self, hard_limit: float, timeout: float = 0.5):
        """Finished results, and the seeds of workers stopped at the hard limit."""
        done, stopped = [], []
        conns = {conn: slot for slot, (_, conn, seed, _) in self.procs.items()
                 if seed is not None}
        for conn in wait(list(conns), timeout=timeout):
            slot = conns[conn]
            p, _, seed, _ = self.procs[slot]
            try:
                result = conn.recv()
                done.append(result)
                self.procs[slot] = (p, conn, None, 0.0)
                if result[1]["outcome"] == "timeout":  # a solver stopped mid-way: fresh process
                    self._restart(slot)
            except EOFError:  # the worker died (a crash inside a native solver)
                stopped.append((seed, "worker died"))
                self._restart(slot)
        now = time.perf_counter()
        for slot, (_, _, seed, started) in list(self.procs.items()):
            if seed is not None and now - started > hard_limit:
                stopped.append((seed, f"stopped after {hard_limit:.0f} s"))
                self._restart(slot)
        return done, stopped

    def _restart(self, slot: int) -> None:
        p, conn, _, _ = self.procs[slot]
        if p.is_alive():
            p.kill()
        p.join(5)
        conn.close()
        self._start(slot)

    def close(self) -> None:
        for _, conn, _, _ in self.procs.values():
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for p, _, _, _ in self.procs.values():
            p.join(5)
            if p.is_alive():
                p.kill()


LINE_KEYS = ("min", "max", "min_if_active", "baseline", "market", "kind", "value_per_outcome",
             "revenue_per_outcome")
CURVE_KEYS = ("cost_scale", "size_scale", "spread", "low", "high")
TOP_KEYS = ("constraints", "pools", "guidelines", "budget")


def _smaller(case: Case):
    """Scenarios one deletion smaller: a line, a constraint, a pool, a block, an option."""
    data = case.data
    for i in range(len(data["lines"])):
        if len(data["lines"]) > 1:
            d = copy.deepcopy(data)
            del d["lines"][i]
            xref = None if case.xref is None else case.xref[:i] + case.xref[i + 1:]
            yield d, xref
    for key in ("constraints", "pools"):
        for k in range(len(data.get(key, []))):
            d = copy.deepcopy(data)
            del d[key][k]
            if not d[key]:
                del d[key]
            yield d, case.xref
    for key in TOP_KEYS:
        if key in data:
            d = copy.deepcopy(data)
            del d[key]
            yield d, case.xref
    if "mode" in data:
        d = copy.deepcopy(data)
        d.pop("mode")
        d.pop("target", None)
        yield d, case.xref
    for i, line in enumerate(data["lines"]):
        for key in LINE_KEYS:
            if key in line:
                d = copy.deepcopy(data)
                del d["lines"][i][key]
                yield d, case.xref
        for key in CURVE_KEYS:
            if key in line["curve"]:
                d = copy.deepcopy(data)
                del d["lines"][i]["curve"][key]
                yield d, case.xref


def shrink(case: Case, invariant: str, time_limit: float, grid_limit: int,
           budget_s: float = 120.0) -> tuple[Case, int]:
    """Delete parts of a failing scenario while the same invariant still fails (greedy)."""
    start, steps = time.perf_counter(), 0
    progress = True
    while progress and time.perf_counter() - start < budget_s:
        progress = False
        for data, xref in _smaller(case):
            try:
                sc = scenario_from_data(data, file=f"<seed {case.seed}>")
            except ScenarioError:
                continue
            smaller = Case(data, xref, case.features, case.seed, scenario=sc)
            if invariant in judge(smaller, time_limit=time_limit,
                                  grid_limit=grid_limit).failures:
                case, steps, progress = smaller, steps + 1, True
                break
            if time.perf_counter() - start > budget_s:
                break
    return case, steps


def _shrink_job(args) -> tuple[int, str, str | None]:
    seed, invariant, time_limit, grid_limit, seconds = args
    warnings.simplefilter("ignore")
    case = case_from_seed(seed)
    small, steps = shrink(case, invariant, time_limit, grid_limit, seconds)
    if not steps:
        return seed, invariant, None
    v = judge(small, time_limit=time_limit, grid_limit=grid_limit)
    return seed, invariant, small.yaml([f"shrunk in {steps} steps from seed {seed}",
                                        *v.summary()])


def _label(key: int | str) -> str:
    return Path(key).stem if isinstance(key, str) else str(key)


def run(seeds: list, workers: int, time_limit: float, hard_limit: float,
        grid_limit: int, out: Path, progress: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    pool = Pool(workers, time_limit, grid_limit, hard_limit)
    todo = list(reversed(seeds))
    results: dict[int, dict] = {}
    started = time.perf_counter()
    tty = sys.stderr.isatty()
    try:
        while todo or any(seed is not None for _, _, seed, _ in pool.procs.values()):
            for slot in pool.idle():
                if todo:
                    pool.submit(slot, todo.pop())
            done, stopped = pool.collect(hard_limit + 60)  # the worker's own alarm first
            for seed, v, text in done:
                results[seed] = v
                if text is not None:
                    name = next(iter(v["failures"]), v["outcome"].replace(" ", "-"))
                    (out / f"{name}-{_label(seed)}.yaml").write_text(text)
            for seed, why in stopped:
                v = asdict(Verdict(seed, "timeout", message=why,
                                   failures={"time_limit": [why]}))
                v["solve_seconds"] = hard_limit
                results[seed] = v
                case = _case(seed)
                v["features"] = list(case.features)
                (out / f"time_limit-{_label(seed)}.yaml").write_text(
                    case.yaml([f"timeout: {why}"]))
            n = len(results)
            if progress and (done or stopped) and (tty or n % 50 == 0 or n == len(seeds)):
                bad = sum(1 for r in results.values() if r["failures"])
                text = (f"{n}/{len(seeds)} scenarios, {bad} failing, "
                        f"{time.perf_counter() - started:.0f} s")
                print("\r" + text if tty else text, end="" if tty else "\n",
                      file=sys.stderr, flush=True)
    finally:
        pool.close()
    if progress and tty:
        print(file=sys.stderr)
    return results


def report(results: dict[int, dict], wall: float, out: Path, show: int = 8) -> str:
    lines = []
    n = len(results)
    outcomes = Counter(r["outcome"] for r in results.values())
    lines.append(f"{n} scenarios in {wall:.0f} s: " + ", ".join(
        f"{outcomes.get(o, 0)} {o}" for o in OUTCOMES))
    lines.append("")
    lines.append("invariant                  failing scenarios   seeds / files")
    feats_all = Counter(f for r in results.values() for f in r["features"])
    for inv in INVARIANTS:
        seeds = sorted(s for s, r in results.items() if inv in r["failures"])
        shown = ", ".join(map(_label, seeds[:show])) + (", ..." if len(seeds) > show else "")
        lines.append(f"{inv:<26} {len(seeds):>17}   {shown}")
    lines.append("")
    # which features the failing scenarios have more often than the others
    for inv in INVARIANTS:
        bad = [r for r in results.values() if inv in r["failures"]]
        if not bad:
            continue
        fc = Counter(f for r in bad for f in r["features"])
        lift = sorted(((fc[f] / len(bad)) / (feats_all[f] / n), f) for f in fc
                      if fc[f] >= max(2, 0.3 * len(bad)))
        top = ", ".join(f"{f} ({fc[f]}/{len(bad)})" for _, f in reversed(lift[-5:]))
        lines.append(f"{inv}: over-represented features: {top or '-'}")
    plans = [r for r in results.values() if r["outcome"] == "plan"]
    unc = sorted(((r["gap"] or 0.0, s) for s, r in results.items()
                  if r["outcome"] == "plan" and r["status"] != "optimal"), reverse=True)
    lines.append("")
    lines.append(f"uncertified plans (status not optimal): {len(unc)} of {len(plans)}")
    for gap, s in unc[:show]:
        r = results[s]
        lines.append(f"  {_label(s)}: {r['status']}, gap {gap:.4%}, objective {r['objective']:.6g}"
                     f", bound {r['bound']:.6g}, {r['solve_seconds']:.1f} s")
    solve = [r["solve_seconds"] for r in results.values() if r["outcome"] != "rejected"]
    check = [r["check_seconds"] for r in results.values() if r["outcome"] != "rejected"]
    if solve:
        worst = max(results, key=lambda s: results[s]["solve_seconds"])
        lines.append("")
        lines.append(f"time per scenario (plan): median {statistics.median(solve):.3f} s, "
                     f"p95 {sorted(solve)[int(0.95 * (len(solve) - 1))]:.2f} s, "
                     f"max {max(solve):.2f} s ({_label(worst)}); checks: median "
                     f"{statistics.median(check):.3f} s, max {max(check):.2f} s")
    lines.append(f"failing scenarios written to {out}/")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="number of scenarios")
    ap.add_argument("--seed", type=int, default=0, help="first seed (seeds seed..seed+n-1)")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds to run instead")
    ap.add_argument("--files", nargs="+", default=None,
                    help="scenario files to judge instead of seeds (e.g. shrunk failures)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for failing scenarios and summary.json (default: a temp dir)")
    ap.add_argument("--time-limit", type=float, default=20.0,
                    help="the solver's time limit per scenario (s)")
    ap.add_argument("--hard-limit", type=float, default=None,
                    help="stop a scenario after this long (s; default 3x time limit + 60)")
    ap.add_argument("--grid-limit", type=int, default=150_000,
                    help="plans the grid oracle evaluates per scenario")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any invariant fails")
    ap.add_argument("--shrink", action="store_true",
                    help="also write each failing scenario shrunk (parts deleted while the "
                         "same invariant fails) as <invariant>-<seed>.min.yaml")
    ap.add_argument("--shrink-seconds", type=float, default=60.0,
                    help="time spent shrinking each failing scenario")
    args = ap.parse_args(argv)
    seeds: list = ([int(s) for s in args.seeds.split(",") if s.strip()] if args.seeds
                   else list(range(args.seed, args.seed + args.n)))
    if args.files:
        seeds = [str(Path(f)) for f in args.files]
    out = args.out or Path(tempfile.mkdtemp(prefix="allocator-fuzz-"))
    hard = args.hard_limit or 3 * args.time_limit + 60
    t0 = time.perf_counter()
    results = run(seeds, max(1, args.workers), args.time_limit, hard, args.grid_limit, out)
    wall = time.perf_counter() - t0
    (out / "summary.json").write_text(json.dumps(
        {"seeds": seeds if args.seeds or args.files else [seeds[0], seeds[-1]],
         "wall_seconds": wall,
         "results": {str(k): v for k, v in sorted(results.items())}}, indent=1, default=str))
    print(report(results, wall, out))
    if args.shrink:
        jobs = [(s, next(iter(r["failures"])), min(args.time_limit, 10.0), args.grid_limit,
                 args.shrink_seconds) for s, r in sorted(results.items(), key=str)
                if r["failures"] and "time_limit" not in r["failures"] and isinstance(s, int)]
        with mp.get_context("fork").Pool(max(1, args.workers)) as pool:
            for seed, inv, text in pool.imap_unordered(_shrink_job, jobs):
                if text is not None:
                    (out / f"{inv}-{seed}.min.yaml").write_text(text)
        print(f"shrunk {len(jobs)} failing scenarios into {out}/*.min.yaml")
    failing = any(r["failures"] for r in results.values())
    return 1 if args.strict and failing else 0


if __name__ == "__main__":
    sys.exit(main())
