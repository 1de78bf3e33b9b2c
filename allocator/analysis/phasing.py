"""What choosing the phasing is worth: the plan with the optimiser phasing each line's spend
over the periods, against each line's total spread evenly over the periods it runs (what
PyMC-Marketing's optimiser does), the totals still chosen by the optimiser."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InfeasibleError
from ..problem import compile_problem
from ..scenario import Scenario
from ..solve import solve

__all__ = ["PhasingValue", "phasing_value"]


@dataclass
class PhasingValue:
    free: float  # the objective with the phasing chosen
    even: float | None  # with even phasing (None: no even plan meets the scenario)
    even_status: str
    currency: str

    @property
    def difference(self) -> float | None:
        return None if self.even is None else self.free - self.even

    @property
    def share(self) -> float | None:
        d = self.difference
        return None if d is None or self.free == 0 else d / abs(self.free)

    def words(self) -> str:
        if self.even is None:
            return ("spreading each line evenly over its periods meets no plan of this "
                    "scenario: choosing the phasing is what makes it feasible")
        return (f"choosing the phasing is worth {self.currency} {self.difference:,.0f} "
                f"({self.share:.1%}) against spreading each line's total evenly over its "
                f"periods (even phasing: {self.even:,.0f}, {self.even_status})")


def phasing_value(sc: Scenario, free_objective: float, *, tol: float = 1e-3) -> PhasingValue:
    """`free_objective`: the plan's own (free phasing) objective."""
    assert sc.periods is not None
    even = sc.model_copy(update={"periods": sc.periods.model_copy(update={"phasing": "even"})})
    even._file, even._source = sc._file, sc._source
    try:
        sol = solve(compile_problem(even), tol=tol, diagnose=False, prices=False)
    except InfeasibleError:
        return PhasingValue(free_objective, None, "infeasible", sc.currency)
    return PhasingValue(free_objective, sol.objective, sol.status, sc.currency)
