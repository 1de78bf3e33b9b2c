"""The invariants every plan must keep, judged against independent code.

`judge(case)` runs one generated scenario through the public path the CLI's `plan` takes
(`plan_scenario`, then the console table and the JSON export), and checks the answer with
the independent checker, the reference curves and the grid oracle (tests/checks.py,
tests/oracle.py). Shared by tests/test_properties.py and benchmarks/fuzz.py.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from allocator.errors import AllocatorError, InfeasibleError
from allocator.outputs.console import format_table
from allocator.plan import plan_scenario

from .checks import Checker, share_point
from .oracle import best_feasible, local_search, scenario_grid
from .strategies import Case

__all__ = ["INVARIANTS", "Verdict", "judge", "TOL"]

TOL = 1e-3  # the solver's default certified gap

INVARIANTS = {
    "exception": "an exception outside the package's error family (allocator.errors), or "
                 "one without a message",
    "constraint_violation": "a returned plan breaks a hard constraint (independent checker), "
                            "or the product's own check lists a violation",
    "false_certificate": "a plan meeting every hard constraint is worth more than the "
                         "reported bound; or status optimal with a gap above the tolerance; "
                         "or a bound below the plan's own objective",
    "false_infeasible": "no plan (InfeasibleError or another of the package's errors) "
                        "although a plan meeting every hard constraint is known (the oracle's, "
                        "the generator's reference plan, or the baseline)",
    "worse_than_baseline": "the baseline meets every hard constraint and is worth more than "
                           "the plan",
    "objective_mismatch": "the plan's reported objective differs from the scenario's "
                          "objective recomputed independently at the plan",
    "curve_mismatch": "the product's curve values differ from the reference formulas",
    "target_suboptimal": "target-efficiency mode: a plan within the budget that meets the "
                         "target and every constraint is worth more than the plan (beyond "
                         "the tolerance)",
    "time_limit": "the solver overran its time limit (by half, plus 5 s), or was stopped at "
                  "the harness's hard limit",
}


class Overtime(BaseException):
    """Raised by the hard-limit alarm: not an Exception, so the product cannot swallow it."""


def _alarm(signum, frame):
    raise Overtime()


@dataclass
class Verdict:
    seed: int | None
    outcome: str  # plan | no plan | error | rejected | exception
    failures: dict[str, list[str]] = field(default_factory=dict)
    status: str | None = None
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    oracle: float | None = None
    message: str | None = None
    solve_seconds: float = 0.0
    check_seconds: float = 0.0
    features: tuple[str, ...] = ()

    def fail(self, invariant: str, text: str) -> None:
        self.failures.setdefault(invariant, []).append(text)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> list[str]:
        out = [f"outcome: {self.outcome}" + (f" ({self.status}, objective {self.objective!r}, "
                                             f"bound {self.bound!r}, gap {self.gap!r})"
                                             if self.outcome == "plan" else "")]
        if self.message:
            out.append("message: " + " / ".join(self.message.splitlines())[:600])
        if self.oracle is not None:
            out.append(f"oracle best feasible: {self.oracle!r}")
        for k, v in self.failures.items():
            out += [f"FAIL {k}: {t}" for t in v]
        return out


def _plan(x: np.ndarray) -> list[float]:
    return [float(f"{v:.8g}") for v in x]


def _close(a: float, b: float, scale: float, rel: float) -> bool:
    return abs(a - b) <= rel * max(scale, abs(a), abs(b)) + 1e-12


def _curve_check(case: Case, chk: Checker, v: Verdict) -> None:
    sc = case.scenario
    for i, line in enumerate(sc.lines):
        ref = chk.curves[i]
        anchor = [float(line.max or 0), float(line.min_if_active or 0)]
        if case.xref is not None:
            anchor.append(case.xref[i])
        xs = np.unique(np.r_[0.0, np.geomspace(1e-4, 1e13, 69), ref.kinks,
                             [a * f for a in anchor if a > 0 for f in (0.5, 1.0, 2.0)]])
        try:
            got = np.asarray(sc.curve(line).value(xs), dtype=float)
        except Exception as exc:  # noqa: BLE001 - anything the product raises is a finding
            v.fail("exception", f"curve of {line.name}: {type(exc).__name__}: {exc}")
            continue
        want = ref.value(xs)
        top = ref.saturation if math.isfinite(ref.saturation) else float(np.nanmax(np.abs(want)))
        bad = ~(np.abs(got - want) <= 1e-9 * np.maximum(np.abs(want), np.abs(got))
                + 1e-12 * max(top, 1e-300))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            v.fail("curve_mismatch", f"line {line.name} ({line.curve.type}) at spend "
                   f"{xs[j]!r}: product {got[j]!r}, reference {want[j]!r}")


def _solver_point(sc, plan) -> float | None:
    """The spend a point of soft guideline share stands for when the scenario leaves it to
    the solver (soft guidelines, no budget, no baseline): read off the plan's priced rows."""
    g = sc.guidelines
    if g is None or g.enforce != "soft" or share_point(sc) is not None:
        return None
    for r in getattr(plan.problem, "rows", []):
        if r.kind == "guideline" and r.penalty:
            return (g.penalty_per_point or 0.0) / r.penalty
    return None


def judge(case: Case, *, time_limit: float = 20.0, tol: float = TOL,
          grid_limit: int = 150_000, hard_limit: float | None = None) -> Verdict:
    """Plan one scenario and check every invariant; the verdict lists what failed.

    `time_limit` is the solver's; `hard_limit` (seconds, main thread only) stops a solve
    that ignores it."""
    v = Verdict(case.seed, "rejected", features=case.features)
    if case.error is not None or case.scenario is None:
        v.message = case.error
        return v
    sc = case.scenario
    chk = Checker(sc)
    t0 = time.perf_counter()
    _curve_check(case, chk, v)

    # plans known to meet every hard constraint
    xref = np.array(case.xref, dtype=float) if case.xref is not None else None
    if xref is not None and not chk.feasible(xref[None, :], 1e-9)[0]:
        xref = None
    xbase = None
    if sc.has_baseline:
        xbase = np.array([line.baseline or 0.0 for line in sc.lines], dtype=float)
    base_ok = xbase is not None and bool(chk.feasible(xbase[None, :], 1e-9)[0])
    v.check_seconds += time.perf_counter() - t0

    # the product, as `allocator plan` runs it
    plan = None
    t1 = time.perf_counter()
    armed = hard_limit is not None and threading.current_thread() is threading.main_thread()
    if armed:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, hard_limit)
    try:
        plan = plan_scenario(sc, tol=tol, time_limit=time_limit)
        format_table(plan)
        json.dumps(plan.to_dict(), default=str)
        v.outcome = "plan"
    except Overtime:
        v.outcome = "timeout"
        v.message = f"stopped after {hard_limit:g} s (time limit {time_limit:g} s)"
        v.fail("time_limit", v.message)
        plan = None
    except AllocatorError as exc:
        v.outcome = "no plan" if isinstance(exc, InfeasibleError) else "error"
        v.message = f"{type(exc).__name__}: {exc}"
        if not str(exc).strip():
            v.fail("exception", f"{type(exc).__name__} without a message")
    except Exception as exc:  # noqa: BLE001
        v.outcome = "exception"
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        v.message = (f"{type(exc).__name__}: {exc} | {tb.filename.split('/')[-1]}:{tb.lineno} "
                     f"{tb.line}")
        v.fail("exception", v.message)
        plan = None
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    v.solve_seconds = time.perf_counter() - t1
    if v.outcome != "timeout" and v.solve_seconds > 1.5 * time_limit + 5:
        v.fail("time_limit", f"took {v.solve_seconds:.1f} s with a time limit of "
               f"{time_limit:g} s")

    t2 = time.perf_counter()
    target_mode = sc.mode.value == "target_efficiency"
    if plan is None or v.outcome != "plan":
        # nothing returned: was there a plan to return?
        known = []
        if xref is not None:
            known.append(("the reference plan", xref))
        if base_ok:
            known.append(("the baseline", xbase))
        best, bx = best_feasible(chk, scenario_grid(chk, limit=grid_limit))
        if bx is not None:
            v.oracle = best
            known.append(("a grid plan", bx))
        if known and v.outcome not in ("exception", "timeout"):
            what, x = known[0]
            v.fail("false_infeasible", f"{v.message}; but {what} {_plan(x)} meets "
                   "every hard constraint")
        v.check_seconds += time.perf_counter() - t2
        return v

    sol = plan.solution
    x = np.asarray(sol.x, dtype=float)
    point = _solver_point(sc, plan)
    if point is not None:
        chk = Checker(sc, point)
    v.status, v.objective, v.bound = sol.status, float(sol.objective), float(sol.bound)
    v.gap = float(sol.gap)
    if x.shape != (chk.n,) or not np.all(np.isfinite(x)) or np.any(x < 0):
        v.fail("constraint_violation", f"plan is not a finite non-negative spend per line: {x}")
        v.check_seconds += time.perf_counter() - t2
        return v
    for msg in chk.messages(x, rel=1e-6):
        v.fail("constraint_violation", f"{msg} (plan {_plan(x)})")
    for msg in plan.violations:
        v.fail("constraint_violation", f"the product's own check: {msg}")

    obj = float(chk.objective(x[None, :])[0])
    if not _close(v.objective, obj, float(x.sum()), 1e-7):
        v.fail("objective_mismatch", f"reported {v.objective!r}, recomputed {obj!r}")

    # the certificate
    if not math.isfinite(v.objective) or math.isnan(v.bound) or v.bound == -math.inf or (
            v.bound == math.inf and sol.status == "optimal"):
        # +inf is an honest "no bound known", for a plan not called optimal
        v.fail("false_certificate", f"objective {v.objective!r}, bound {v.bound!r}, "
               f"status {sol.status}")
    elif v.bound < v.objective - 1e-9 * max(abs(v.objective), 1.0):
        v.fail("false_certificate", f"bound {v.bound!r} below the plan's objective "
               f"{v.objective!r}")
    if sol.status == "optimal" and v.gap > tol * (1 + 1e-9):
        v.fail("false_certificate", f"status optimal with gap {v.gap:.6g} > {tol}")

    # the oracle, on the problem the solver says it solved
    total = None
    if target_mode and sol.problem is not None:
        lo_b, hi_b = getattr(sol.problem, "budget_lo", None), getattr(sol.problem, "budget_hi",
                                                                      None)
        if lo_b is not None and lo_b == hi_b and math.isfinite(hi_b):
            total = float(hi_b)
    seeds = [s for s in (x, xref, xbase) if s is not None]
    if total is not None:
        seeds = [s for s in seeds if abs(s.sum() - total) <= 1e-9 * max(total, 1.0)]
    X = scenario_grid(chk, total=total, limit=grid_limit, extra=seeds)
    best, bx = best_feasible(chk, X)
    fixed = total is not None or (sc.budget is not None and sc.budget.exact)
    for start in [bx, *seeds]:
        if start is None:
            continue
        val, y = local_search(chk, start, total_fixed=fixed)
        if y is not None and val > best:
            best, bx = val, y
    if bx is not None:
        v.oracle = best
        margin = 1e-6 * max(abs(v.bound), abs(best)) + 1e-12
        if math.isfinite(v.bound) and best > v.bound + margin:
            over = (best - v.bound) / max(abs(v.bound), 1e-300)
            v.fail("false_certificate", f"a plan meeting every hard constraint is worth "
                   f"{best!r} > bound {v.bound!r} (+{over:.4%}); plan {_plan(bx)}")

    # never worse than a feasible baseline
    if base_ok:
        base_obj = float(chk.objective(xbase[None, :])[0])
        if obj < base_obj - 1e-7 * max(abs(base_obj), abs(obj), 1e-12):
            v.fail("worse_than_baseline", f"plan {obj!r} < baseline {base_obj!r}")

    # target efficiency: the best plan within the budget that meets the target
    if target_mode:
        seeds_all = [s for s in (x, xref, xbase) if s is not None]
        full, fx = best_feasible(chk, scenario_grid(chk, limit=grid_limit, extra=seeds_all))
        for start in [fx, *seeds_all]:
            if start is not None:
                val, y = local_search(chk, start, total_fixed=False, rounds=40)
                if y is not None and val > full:
                    full, fx = val, y
        if fx is not None and full > obj + tol * max(abs(obj), abs(full), 1e-12):
            v.fail("target_suboptimal", f"spend {float(fx.sum())!r} meets the target and every "
                   f"constraint with objective {full!r} > the plan's {obj!r} at spend "
                   f"{float(x.sum())!r}; plan {_plan(fx)}")
    v.check_seconds += time.perf_counter() - t2
    return v
