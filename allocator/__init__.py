"""allocator: certified-optimal marketing budget allocation across funnel stages and platforms."""

from .errors import AllocatorError, InfeasibleError, ScenarioError, SolverError

__version__ = "0.1.0"


def __getattr__(name: str):
    """Scenario and load_scenario on first use: `allocator --version` imports no model."""
    if name in ("Scenario", "load_scenario"):
        from . import scenario

        return getattr(scenario, name)
    raise AttributeError(f"module 'allocator' has no attribute {name!r}")

__all__ = [
    "AllocatorError",
    "InfeasibleError",
    "ScenarioError",
    "SolverError",
    "Scenario",
    "load_scenario",
    "__version__",
]
