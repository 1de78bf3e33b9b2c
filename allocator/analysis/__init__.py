"""Sensitivity analyses over a compiled problem: each re-solves with the same solvers.

- `budget_frontier`: the optimum from about 0.5x to 2x the budget;
- `guideline_price`: the objective as the awareness (prospecting) share moves;
- `tornado`: each line's response and unit cost moved by +-X %;
- `monte_carlo`: P10 / P50 / P90 of the plan's KPIs over the curves' uncertainty.
"""

from .frontier import Frontier, budget_frontier
from .guideline import GuidelinePrice, guideline_price
from .tornado import Tornado, tornado
from .uncertainty import Uncertainty, monte_carlo

__all__ = ["Frontier", "budget_frontier", "GuidelinePrice", "guideline_price", "Tornado",
           "tornado", "Uncertainty", "monte_carlo"]
