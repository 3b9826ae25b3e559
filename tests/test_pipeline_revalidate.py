"""solve_problem validates a problem edited in memory again (QA s21, N4): pydantic's
``model_copy(update=...)`` skips validation, so a demand of -10 reached the LP (status error), "fifty"
raised a TypeError and an unknown accelerator a bare KeyError.  Each now raises the InputError that
validate_document gives for the same content, before any solve."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import pytest

from solver.errors import InputError
from solver.mip.pipeline import revalidated, solve_problem
from solver.problem.load import load_problem, validate_document
from solver.problem.schema import Problem

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "problems" / "chat-assistant.yaml"


def issues(exc: InputError) -> list[tuple]:
    return [(i.file, i.path, i.message, i.hint) for i in exc.issues]


def with_demand(loaded, value):
    p = loaded.problem
    w0 = p.workloads[0]
    w0 = w0.model_copy(update={"demand": w0.demand.model_copy(update={"requests_per_s": value})})
    return dataclasses.replace(loaded, problem=p.model_copy(update={"workloads": [w0, *p.workloads[1:]]}))


@pytest.mark.parametrize("value", [-10, "fifty"])
def test_a_demand_edited_with_model_copy_is_the_input_error_validate_document_gives(value):
    loaded = load_problem(CHAT)
    raw = copy.deepcopy(loaded.raw)
    raw["workloads"][0]["demand"]["requests_per_s"] = value
    with pytest.raises(InputError) as want:
        validate_document(raw, None, loaded.file)
    with pytest.raises(InputError) as got:
        solve_problem(with_demand(loaded, value), time_limit_s=10)
    assert issues(got.value) == issues(want.value)
    assert [i.path for i in got.value.issues] == ["workloads[0].demand.requests_per_s"]


def test_an_unknown_accelerator_in_a_problem_built_without_the_catalog_is_an_input_error():
    loaded = load_problem(CHAT)
    raw = copy.deepcopy(loaded.raw)
    raw["fleet"]["accelerators"] = ["h100-sxn"]
    edited = dataclasses.replace(loaded, problem=Problem.model_validate(raw))   # schema only: no catalog ids
    with pytest.raises(InputError) as want:
        validate_document(raw, None, loaded.file)
    with pytest.raises(InputError) as got:
        solve_problem(edited, time_limit_s=10)
    assert issues(got.value) == issues(want.value)
    assert "unknown accelerator id 'h100-sxn'" in got.value.issues[0].message


def test_a_valid_edit_is_solved_and_an_unedited_problem_is_passed_through():
    loaded = load_problem(CHAT)
    assert revalidated(loaded) is loaded
    plan = solve_problem(with_demand(loaded, 3), time_limit_s=30).plan
    assert plan.status == "optimal" and plan.kpis[0].requests_per_s == 3


def test_the_revalidation_costs_little_on_the_shipped_problems():
    """Measured at 0.3-0.7 ms a problem (the catalog is not read again; validate_document: 22-30 ms)."""
    for f in sorted((ROOT / "problems").glob("*.yaml")):
        loaded = load_problem(f)
        t0 = time.perf_counter()
        for _ in range(10):
            assert revalidated(loaded) is loaded
        assert (time.perf_counter() - t0) / 10 < 0.02, f
