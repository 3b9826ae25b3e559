"""`--verbose` progress lines: on stderr only when asked, one per phase, figures that match the plan."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from solver.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHAT = str(ROOT / "problems" / "chat-assistant.yaml")
LINE = re.compile(r"^\[\s*\d+\.\ds\] \S")


def _solve(capsys, tmp_path, *flags):
    out = tmp_path / f"plan{len(flags)}.json"
    rc = main(["solve", CHAT, "--backend", "highspy", "--no-timing", "--json", str(out), *flags])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err, json.loads(out.read_text())


def test_verbose_prints_phases_on_stderr_and_changes_nothing_else(capsys, tmp_path):
    rc0, out0, err0, plan0 = _solve(capsys, tmp_path)
    rc1, out1, err1, plan1 = _solve(capsys, tmp_path, "-v")
    assert rc0 == rc1 == 0
    assert err0 == ""                        # silent unless asked
    assert out1 == out0 and plan1 == plan0   # the plan and its printout do not depend on -v
    lines = err1.splitlines()
    assert lines and all(LINE.match(s) for s in lines), err1
    text = "\n".join(lines)
    for phase in ("coefficients in", f"model: {plan1['solver']['variables']} variables", "solving with highspy/reduced",
                  "LP bound", "incumbent", "reduced-cost fixing keeps"):
        assert phase in text, phase
    # the last line carries the plan's cost, as the JSON has it
    total = plan1["objective"]["total"]
    assert f"] optimal: plan {total:,.0f}, bound " in lines[-1]
    assert "column generation round" not in text    # that is -vv


def test_very_verbose_adds_each_round_and_handler_is_removed(capsys, tmp_path):
    rc, _, err, _ = _solve(capsys, tmp_path, "-vv")
    assert rc == 0
    rounds = [s for s in err.splitlines() if "column generation round" in s]
    assert rounds and "round 1:" in rounds[0]
    # after the command, the library is quiet again: only its NullHandler is left
    assert all(isinstance(h, logging.NullHandler) for h in logging.getLogger("solver").handlers)
    rc, _, err, _ = _solve(capsys, tmp_path)
    assert err == ""


def test_verbose_multi_period_reports_each_period(capsys, tmp_path):
    problem = str(ROOT / "problems" / "eight-quarter-growth.yaml")
    rc = main(["solve", problem, "--backend", "pulp", "--quiet", "-v"])
    err = capsys.readouterr().err
    assert rc == 0
    assert "coefficients in" in err and "periods 8" in err
    assert "multi-period model:" in err and "solving with pulp/cbc" in err
    assert re.search(r"optimal: plan [\d,]+", err)
