"""Problem files: schema, loading, scenarios and cross-reference checks."""

from solver.problem.load import LoadedProblem, load_problem, resolve_scenario
from solver.problem.schema import Problem, Workload

__all__ = ["LoadedProblem", "load_problem", "resolve_scenario", "Problem", "Workload"]
