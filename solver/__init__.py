"""fleetopt: design LLM inference fleets with a mixed-integer program.

Data flows one way::

    YAML -> validated objects (solver.catalog, solver.problem)
         -> coefficient arrays (solver.perf)
         -> backend-neutral MIP (solver.mip)
         -> solver backend (pulp / ortools)
         -> Plan (solver.plan) -> reports, verifier

The package is imported as ``solver`` (the design card fixes that name); the
command is ``fleetopt`` or ``python -m solver``.
"""

__version__ = "0.1.0"

from solver.errors import FleetoptError, InputError, InputIssue  # noqa: E402

__all__ = ["__version__", "FleetoptError", "InputError", "InputIssue"]
