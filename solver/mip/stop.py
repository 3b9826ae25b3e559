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

CBC (the pulp backend) is another process, working in a temporary folder: see
:func:`solver_scratch`.  SIGTERM to fleetopt, or SIGINT to fleetopt alone (``kill PID``,
systemd's ``KillMode=process``), left it running, orphaned, until its own time limit, and SIGTERM
left its folder (the model's MPS file, megabytes) in /tmp.  Now a solver process started within
:func:`solver_scratch` is killed when the wait for it is interrupted (Ctrl-C, a SIGTERM handler's
exception) or when SIGTERM ends fleetopt (:func:`end_children`), and the folder is removed; the
exit status stays that of SIGTERM (143) or Ctrl-C (130).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
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


#: solver threads left running after a Ctrl-C their solver could not act on (:func:`run_interruptible`)
_ABANDONED: list = []


def run_interruptible(fn: Callable[[], object], interrupt: Callable[[], bool]) -> tuple[object, bool]:
    """``(fn(), stopped)``: ``fn`` (a solver's blocking call that releases the GIL) in a worker thread
    while the main thread waits in short joins, so that a Ctrl-C is seen at once (QA s27: OR-Tools'
    HiGHS and CBC ran to their time limit after Ctrl-C, and the plan was then thrown away).

    On Ctrl-C (KeyboardInterrupt here, or :data:`STOP` set by :func:`on_interrupt`) ``interrupt()``
    asks the solver to stop; where it can (OR-Tools' SCIP: True) the solver returns its best plan and
    ``stopped`` is True (a second Ctrl-C meanwhile aborts).  Where it cannot (OR-Tools' HiGHS and CBC
    answer False) the KeyboardInterrupt goes on at once; the solver's thread is left to end with its
    time limit, and the CLI leaves with ``os._exit`` (:func:`abandoned`) rather than unload the solver
    under it.  Outside the main thread: ``fn()`` as it is."""
    if threading.current_thread() is not threading.main_thread():
        return fn(), False
    out: dict = {}
    # (an Event, not Thread.join: a KeyboardInterrupt inside join left the thread marked as ended
    # while it still ran, in CPython 3.11)
    finished = threading.Event()

    def work() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            out["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=work, name="solver-run", daemon=True)
    worker.start()
    stopped = False
    try:
        while not finished.wait(0.1):
            if STOP.is_set() and not stopped:
                stopped = bool(interrupt())
    except KeyboardInterrupt:
        if stopped or not interrupt():
            _ABANDONED.append(finished)
            raise
        stopped = True
        while not finished.wait(0.1):     # a second Ctrl-C here aborts
            pass
    if "error" in out:
        raise out["error"]
    return out.get("value"), stopped


def abandoned() -> bool:
    """Whether a solver thread that a Ctrl-C left behind is still running."""
    return any(not done.is_set() for done in _ABANDONED)


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


# ------------------------------------------------------------------ solver processes and folders

#: solver processes running now (:class:`TrackedPopen`) and the temporary folders of running
#: solves (:func:`solver_scratch`); no lock: :func:`end_children` reads them in a signal handler
_CHILDREN: set = set()
_SCRATCH: set = set()


class TrackedPopen(subprocess.Popen):
    """A ``Popen`` known to :func:`end_children` until it has ended; killed (and reaped) when the
    wait for it is interrupted by an exception (KeyboardInterrupt, a SIGTERM handler's SystemExit),
    which left CBC running, orphaned, until its own time limit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _CHILDREN.add(self)

    def wait(self, timeout=None):
        deadline = getattr(_LAST, "deadline", None)
        try:
            if timeout is None and deadline is not None:
                return self._wait_until(deadline)
            return super().wait(timeout)
        except subprocess.TimeoutExpired:
            raise
        except BaseException:
            self._end()
            raise
        finally:
            if self.returncode is not None:
                _CHILDREN.discard(self)
                _LAST.returncode = self.returncode

    def _wait_until(self, deadline: float):
        """Wait, killing the process at ``deadline`` (monotonic): see :func:`process_deadline`."""
        try:
            return super().wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            _LAST.overran = True
            self._end()
            return self.returncode

    def _end(self) -> None:
        try:
            self.kill()
            super().wait(5)
        except Exception:  # noqa: BLE001 - gone already, or not reaped: init will
            pass
        _CHILDREN.discard(self)


_LAST = threading.local()


@contextlib.contextmanager
def process_deadline(seconds: float) -> Iterator[None]:
    """Within the block, a solver process this thread waits for is killed after ``seconds``.

    Why: pulp waits for CBC with no timeout, so the time limit held only as long as CBC honoured
    its own ``sec``; a CBC that hung (QA s27: a stand-in that sleeps) kept a batch job waiting
    forever, and its ``solver.fallback`` was never tried.  :func:`overran` then says it happened."""
    _LAST.deadline = time.monotonic() + seconds
    _LAST.overran = False
    try:
        yield
    finally:
        _LAST.deadline = None


def overran() -> bool:
    """Whether the last :func:`process_deadline` of this thread killed its process."""
    return bool(getattr(_LAST, "overran", False))


def last_exit_code() -> Optional[int]:
    """Exit status of the last solver process this thread waited for since :func:`forget_exit_code`
    (negative: the signal that ended it), or None."""
    return getattr(_LAST, "returncode", None)


def forget_exit_code() -> None:
    """Before a solve: an earlier process's status must not be read as this one's."""
    _LAST.returncode = None


def _snapshot(items: set) -> tuple:
    while True:            # another thread may add or discard meanwhile
        try:
            return tuple(items)
        except RuntimeError:
            continue


def end_children() -> None:
    """Kill every solver process still running (:class:`TrackedPopen`) and remove the temporary
    folders of the solves under way (:func:`solver_scratch`): what ends fleetopt on SIGTERM, and a
    sweep's pool worker whose sweep is gone.  Safe in a signal handler (no locks; the processes
    are reaped with ``os.waitpid``, not ``Popen.wait``, whose lock the interrupted code may hold)."""
    procs = _snapshot(_CHILDREN)
    for p in procs:
        if p.returncode is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except OSError:
                pass
    deadline = time.monotonic() + 2.0
    for p in procs:        # gone before its folder goes, so that it writes nothing more there
        while p.returncode is None and time.monotonic() < deadline:
            try:
                if os.waitpid(p.pid, os.WNOHANG)[0]:
                    break
            except OSError:    # reaped already
                break
            time.sleep(0.01)
        _CHILDREN.discard(p)
    for d in _snapshot(_SCRATCH):
        shutil.rmtree(d, ignore_errors=True)
        _SCRATCH.discard(d)


def _sigterm_ends_children(signum, frame) -> None:
    end_children()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)      # the exit status SIGTERM gave before (143 in a shell)


@contextlib.contextmanager
def solver_scratch(prefix: str) -> Iterator[str]:
    """A temporary folder for one solve, removed afterwards, and SIGTERM handled meanwhile.

    Where SIGTERM has its default action (it would end the process at once, no ``finally`` run)
    and this is the main thread, SIGTERM runs :func:`end_children` and then ends the process as
    before.  Where a Python handler is installed (a sweep's, which raises SystemExit), it stays,
    and its exception, through :meth:`TrackedPopen.wait` and the ``finally`` here, cleans up.
    """
    install = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    if install:
        signal.signal(signal.SIGTERM, _sigterm_ends_children)
    try:
        tmp = tempfile.mkdtemp(prefix=prefix)
        _SCRATCH.add(tmp)
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            _SCRATCH.discard(tmp)
    finally:
        if install:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def track_pulp_processes() -> None:
    """Make pulp start its command-line solvers (CBC) as :class:`TrackedPopen` (once; idempotent).

    pulp calls ``subprocess.Popen`` through the ``subprocess`` name of ``pulp.apis.coin_api``;
    that name is replaced by a stand-in module whose ``Popen`` is :class:`TrackedPopen`, every
    other name read from :mod:`subprocess`.
    """
    try:
        from pulp.apis import coin_api
    except ImportError:
        return
    current = getattr(coin_api, "subprocess", None)
    if current is None or isinstance(current, _PulpSubprocess):
        return
    coin_api.subprocess = _PulpSubprocess("subprocess")


class _PulpSubprocess(type(subprocess)):
    Popen = TrackedPopen

    def __getattr__(self, name):
        return getattr(subprocess, name)
