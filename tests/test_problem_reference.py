"""docs/problem-reference.md is generated from the problem schema and must match it."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from solver.problem.reference import PAGE, generate, main
from solver.problem.schema import Problem


def _models(model, seen):
    if model in seen:
        return seen
    seen.append(model)
    for f in model.model_fields.values():
        stack = [f.annotation]
        while stack:
            a = stack.pop()
            if isinstance(a, type) and issubclass(a, BaseModel):
                _models(a, seen)
            else:
                stack.extend(typing.get_args(a))
    return seen


def test_the_committed_reference_is_what_the_schema_generates():
    """Stale page: run `python -m solver.problem.reference` and commit docs/problem-reference.md."""
    assert PAGE.read_text(encoding="utf-8") == generate(), \
        "docs/problem-reference.md is stale: run `python -m solver.problem.reference`"
    assert main(["--check"]) == 0


def test_every_problem_field_has_a_description_and_a_row():
    text = generate()
    missing = [f"{m.__name__}.{n}" for m in _models(Problem, []) for n, f in m.model_fields.items()
               if not (f.description or "").strip()]
    assert not missing, f"give these fields a description in solver/problem/schema.py: {missing}"
    for model in _models(Problem, []):
        assert f"## {model.__name__}\n" in text
        for name in model.model_fields:
            assert f"| `{name}` |" in text
    # the fields QA found documented nowhere but in the schema
    for needle in ("`availability`", "`catalog_offers`", "`horizon_hours`", "`energy_on_rented`",
                   "`max_capex_usd`", "`within_period`", "`move_usd_per_device`",
                   "`change_penalty_usd_per_device`", "`fallback`", "`measurements`", "`offers`"):
        assert needle in text


def test_a_stale_page_is_reported(tmp_path):
    stale = tmp_path / "ref.md"
    stale.write_text("old\n")
    assert main(["--check", "--out", str(stale)]) == 1
    assert main(["--out", str(stale)]) == 0 and stale.read_text() == generate()


def test_ids_say_the_characters_they_may_hold():
    """QA s22: Workload.id was documented as 'text' while 'FAQ Bot' is refused (lowercase letters,
    digits, '.', '_' or '-', from the first character a letter or digit); Scenario.name has the rule too."""
    from solver.problem.schema import Scenario, Workload
    rule = "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
    for model, name in ((Workload, "id"), (Scenario, "name")):
        assert rule in model.model_fields[name].description
    text = generate()
    for section, name in (("Workload", "id"), ("Scenario", "name")):
        part = text.split(f"## {section}\n")[1].split("\n## ")[0]
        assert rule in next(line for line in part.splitlines() if line.startswith(f"| `{name}` |"))
