"""allocator: certified-optimal marketing budget allocation across funnel stages and platforms."""

from .errors import AllocatorError, InfeasibleError, ScenarioError, SolverError
from .scenario import Scenario, load_scenario

__version__ = "0.1.0"

__all__ = [
    "AllocatorError",
    "InfeasibleError",
    "ScenarioError",
    "SolverError",
    "Scenario",
    "load_scenario",
    "__version__",
]
