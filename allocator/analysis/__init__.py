"""Sensitivity analyses over a compiled problem: each re-solves with the same solvers.

- `budget_frontier`: the optimum from about 0.5x to 2x the budget;
- `guideline_price`: the objective as the awareness (prospecting) share moves;
- `tornado`: each line's response and unit cost moved by +-X %;
- `monte_carlo`: P10 / P50 / P90 of the plan's KPIs over the curves' uncertainty (the plan
  held fixed); `monte_carlo_reoptimised`: the plan re-solved on each draw's curves;
- `robust_plan`: the plan maximising the mean and the CVaR of the objective over sampled
  curves (`robust_frontier`: from the mean alone to the CVaR alone).

Where their solves run (this process, worker processes, a dask cluster) is decided in
`pool`; the numbers do not depend on it.
"""

from .frontier import Frontier, budget_frontier
from .guideline import GuidelinePrice, guideline_price
from .pool import executor
from .robust import RobustPlan, robust_frontier, robust_plan
from .tornado import Tornado, tornado
from .uncertainty import Uncertainty, monte_carlo, monte_carlo_reoptimised

__all__ = ["Frontier", "budget_frontier", "GuidelinePrice", "guideline_price", "Tornado",
           "tornado", "Uncertainty", "monte_carlo", "monte_carlo_reoptimised", "RobustPlan",
           "robust_plan", "robust_frontier", "executor"]
