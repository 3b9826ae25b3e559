"""The fleet MIP: neutral model (:mod:`.model`), formulation, backends, statuses."""

from solver.mip.backends import BACKENDS, default_solver, solve
from solver.mip.formulation import build_model
from solver.mip.model import LinearModel, ModelBuilder
from solver.mip.status import STATUSES, SolveResult

__all__ = ["BACKENDS", "default_solver", "solve", "build_model", "LinearModel", "ModelBuilder",
           "STATUSES", "SolveResult"]
