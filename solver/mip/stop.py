"""Ctrl-C during a long solve: stop the search, keep the best plan found so far.

A ten-minute solve that the user stops should end like a time limit - the
incumbent written, with its proven gap - not with nothing.  Python only runs
its SIGINT handler between bytecodes, so while HiGHS works in C++ a plain
``KeyboardInterrupt`` waits for the whole time limit and then discards the
plan.  Instead, :func:`on_interrupt` makes the first Ctrl-C set :data:`STOP`;
while it listens every HiGHS MIP run subscribes :func:`interrupt_callback`,
which HiGHS calls between nodes and which asks it to stop (HiGHS returns its
incumbent and dual bound), and the phases of :mod:`solver.mip.reduced` and
:mod:`solver.mip.decompose` check :func:`requested` before starting the next
one.  Only while it listens (the CLI's ``solve``), so that library calls, tests
and benchmarks run HiGHS exactly as before: with the callback M-8Q at 60 s ended
at 1.61% where it had ended at 1.19% without (L, M+ and M-8Q at seed 11
unchanged), though later runs of the same code without it also gave 1.61%
(the decomposition's periods share a wall clock, so its figures move with the
machine's speed).  A second Ctrl-C aborts at once (exit 130; outputs are written
atomically, so none is left half-written).  Only the highspy backend listens;
CBC and SCIP keep the default behaviour.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Callable, Iterator, Optional, TextIO

STOP = threading.Event()
_LISTENING = threading.Event()

#: what the plan's message says when the user stopped the search
STOPPED_NOTE = "stopped by the user (Ctrl-C): best plan found so far"


def listening() -> bool:
    """Whether a Ctrl-C handler of :func:`on_interrupt` is installed (HiGHS then gets the
    interrupt callback)."""
    return _LISTENING.is_set()


def requested() -> bool:
    """Whether the user asked to stop (the phases stop starting new work)."""
    return STOP.is_set()


def interrupt_callback(event) -> None:
    """HiGHS interrupt callback: stop the search once the user asked."""
    if STOP.is_set():
        event.interrupt()


def run_listening(fn: Callable[[], object]) -> object:
    """``fn()`` (a HiGHS run) in a worker thread while :func:`on_interrupt` listens in the main
    thread, which waits in short joins: Python runs signal handlers only in the main thread between
    bytecodes, so with the main thread inside HiGHS's C++ (presolve, the root LP: no callback for
    seconds) a Ctrl-C was noticed late and a second one never aborted.  Otherwise ``fn()`` here."""
    if not _LISTENING.is_set() or threading.current_thread() is not threading.main_thread():
        return fn()
    out: dict = {}

    def work() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            out["error"] = exc

    worker = threading.Thread(target=work, name="highs-run", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in out:
        raise out["error"]
    return out.get("value")


@contextlib.contextmanager
def on_interrupt(stream: Optional[TextIO] = None) -> Iterator[None]:
    """Within the block the first SIGINT sets :data:`STOP` (and says so on ``stream``), the
    second ends the process (exit 130).  Outside the main thread it does nothing (Python
    delivers signals to the main thread only); HiGHS runs then go through :func:`run_listening`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    out = stream if stream is not None else sys.stderr

    def handler(signum, frame):
        if STOP.is_set():
            # not KeyboardInterrupt: raised inside a HiGHS callback it would unwind through C++
            print("aborted", file=out, flush=True)
            os._exit(130)
        STOP.set()
        print("stopping: the best plan found so far will be kept (Ctrl-C again to abort)", file=out,
              flush=True)

    old = signal.signal(signal.SIGINT, handler)
    STOP.clear()
    _LISTENING.set()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        _LISTENING.clear()
        STOP.clear()
