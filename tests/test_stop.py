"""Ctrl-C during a highspy solve: the search stops, the best plan so far is kept and written."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from solver.cli import main
from solver.coefficients import build_coefficients
from solver.mip import stop
from solver.mip.formulation import build_model
from solver.mip.highspy_backend import INTERRUPTED, run_mip, solve_highspy
from solver.mip.pipeline import solve_problem
from solver.mip.reduced import solve_reduced
from solver.problem.load import load_problem
from solver.verify import verify_plan

ROOT = Path(__file__).resolve().parents[1]
CHAT = ROOT / "problems" / "chat-assistant.yaml"
sys.path.insert(0, str(ROOT / "benchmarks" / "scale"))
from generate import generate  # noqa: E402


def _chat_model():
    lp = load_problem(CHAT)
    k = build_coefficients(lp.problem, lp.catalog)
    return lp, build_model(k)


def test_once_stopped_no_search_starts_and_no_plan_is_invented():
    _, m = _chat_model()
    stop.STOP.set()
    try:
        v, bound, text = run_mip(m, 60, 1e-6, None)
        assert v is None and math.isnan(bound) and text == INTERRUPTED
        r = solve_highspy(m, "highs", 60, 1e-6, None)
        assert r.status == "error" and not r.has_plan
        assert "stopped by the user before a plan was found" in r.message
    finally:
        stop.STOP.clear()


def test_stopped_reduced_solve_keeps_its_incumbent():
    """Stopped from the start with a feasible warm start: the warm start is the plan, with a
    valid bound and the stop in its message."""
    lp, m = _chat_model()
    exact = solve_problem(lp, backend="highspy", solver="highs", mip_gap=1e-9).result
    worse = exact.values.copy()
    worse[m.blocks["n"]] += 1                 # a feasible, dearer plan
    assert m.violations(worse, tol=1e-6) == []
    stop.STOP.set()
    try:
        r = solve_reduced(m, time_limit_s=60, mip_gap=1e-6, start=worse)
    finally:
        stop.STOP.clear()
    assert r.status == "time_limit" and r.has_plan
    assert r.message.startswith(stop.STOPPED_NOTE)
    assert r.objective == m.objective_value(worse) > exact.objective
    assert r.best_bound <= exact.objective + 1e-6
    assert m.violations(r.values, tol=1e-6) == []


def test_ctrl_c_during_solve_writes_the_best_plan(tmp_path, capsys):
    """A real SIGINT while `fleetopt solve` runs the default backend on a generated M+ instance
    (about 10 s to prove), sent once the MIP on the candidates that fixing keeps has started (a
    HiGHS search in C++, which only the interrupt callback can stop): exit 4, the plan
    written, feasible, the stop in its status detail, the SIGINT handler put back afterwards."""
    f = tmp_path / "mplus.yaml"
    f.write_text(yaml.safe_dump(generate("M+"), sort_keys=False))
    out = tmp_path / "plan.json"
    before = signal.getsignal(signal.SIGINT)
    searching = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record):
            if "fixing keeps" in record.getMessage():
                searching.set()

    def press_ctrl_c():
        if searching.wait(120):
            time.sleep(0.3)
            # only while the solve listens (a SIGINT after it would stop pytest itself)
            if signal.getsignal(signal.SIGINT) is not before:
                os.kill(os.getpid(), signal.SIGINT)

    logger = logging.getLogger("solver")
    watch, level = Watch(), logger.level
    logger.addHandler(watch)
    logger.setLevel(logging.INFO)
    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    t0 = time.monotonic()
    try:
        rc = main(["solve", str(f), "--json", str(out), "--quiet"])
    finally:
        logger.removeHandler(watch)
        logger.setLevel(level)
    seconds = time.monotonic() - t0
    presser.join(5)
    err = capsys.readouterr().err
    assert searching.is_set()
    assert signal.getsignal(signal.SIGINT) is before
    assert "stopping: the best plan found so far will be kept" in err
    assert rc == 4, err
    plan = json.loads(out.read_text())
    assert plan["status"] == "time_limit"
    detail = plan["solver"]["status_detail"]
    assert detail.startswith(stop.STOPPED_NOTE)
    # the search that was running when the signal came was cut short, not run to its end
    assert "reduced MIP Interrupted by user" in detail or "reduced MIP" not in detail, detail
    lp = load_problem(f)
    assert verify_plan(lp.problem, lp.catalog, plan).ok
    assert plan["solver"]["best_bound"] <= plan["objective"]["total"]
    assert seconds < 60                  # well before the time limit the solve would run to
    assert not stop.requested()


def test_highs_runs_off_the_main_thread_while_ctrl_c_is_listened_for():
    """While on_interrupt listens, a HiGHS run goes to a worker thread so that the main thread can take
    a second Ctrl-C at once (HiGHS's presolve runs seconds without a callback: the second press was
    lost and the process ended with exit 5 instead of 130).  Results and errors come back as before."""
    import threading as th

    def where():
        return th.current_thread() is th.main_thread()

    assert stop.run_listening(where) is True          # not listening: in place
    with stop.on_interrupt():
        assert stop.run_listening(where) is False
        with pytest.raises(ZeroDivisionError):
            stop.run_listening(lambda: 1 / 0)
