"""The example notebooks execute without error, and match the script that generates them.

The kernel is this test's own interpreter (a kernelspec written to a temporary
JUPYTER_PATH), so the notebooks import the fleetopt under test even where
another "python3" kernel is installed for the user.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (dev extra)")
nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (dev extra)")
pytest.importorskip("ipykernel", reason="ipykernel not installed (dev extra)")
pytest.importorskip("matplotlib", reason="matplotlib not installed (dev extra)")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = ["quickstart.ipynb", "tradeoffs.ipynb", "quarterly-reoptimisation.ipynb"]
KERNEL = "fleetopt-test"


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory):
    """A kernelspec that runs ipykernel with sys.executable."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fleetopt tests", "language": "python"}))
    return root


def _build_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("build_notebooks", NB_DIR / "build_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_matches_generator_and_has_no_outputs(name):
    nb = nbformat.read(NB_DIR / name, as_version=4)
    nbformat.validate(nb)
    # compared cell by cell (not byte for byte: another nbformat version may serialise differently)
    want = _build_module().build(name)
    assert [(c.cell_type, c.source) for c in nb.cells] == \
        [(c.cell_type, c.source) for c in want.cells], f"rerun: python notebooks/build_notebooks.py ({name})"
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_executes(name, kernel_path, monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(NB_DIR / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(NB_DIR)}})
    client.execute()   # raises CellExecutionError with the cell and traceback on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "optimal" in text
    # the repository is left as it was: notebooks write only under a temporary folder
    assert not (NB_DIR / ".fleetopt-cache").exists()
    if name == "tradeoffs.ipynb":
        _check_model_tier(nb)
        _check_fronts_and_chat_baseline(nb, text)
    if name == "quarterly-reoptimisation.ipynb":
        _check_reoptimisation(nb)


def _cell(nb, needle: str):
    return next(c for c in nb.cells if c.cell_type == "code" and needle in c.source)


def _check_fronts_and_chat_baseline(nb, text: str) -> None:
    """QA s21: the Pareto cell drew the fronts itself, at each point's cap with straight lines (a
    flat run of duplicate plans, diagonals between caps): it shows the library's figures, one per
    front.  And the text said the chat assistant "is best served by one type", while its optimum
    mixes an A100 and an H100 and `fleetopt solve --baseline homogeneous` reads "best single type:
    b200 at $61,232; heterogeneous plan saves 5.4%": the cell prints the CLI's numbers."""
    cell = _cell(nb, 'pareto_front(loaded, "ttft"')
    assert ".figure()" in cell.source and "ax.plot" not in cell.source
    assert sum("image/png" in o.get("data", {}) for o in cell.outputs) == 2
    assert "best served by one type" not in "".join(c.source for c in nb.cells)
    line = next(ln for ln in text.splitlines() if ln.startswith("chat assistant: mixed fleet"))
    assert line.endswith("best single type b200 61,232 USD: the mixed fleet saves 5.4%"), line
    assert "57,925 USD (1x a100-80gb + 1x h100-sxm)" in line


def _check_reoptimisation(nb) -> None:
    """QA s21: the notebook solved 8 independent quarters and only named --existing.  Its last
    section re-optimises a multi-period plan from Python (previous=, executed_through=) and prints
    the change report `fleetopt solve --existing` prints."""
    cell = _cell(nb, "executed_through=1")
    assert "previous=first" in cell.source
    out = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert "bought in periods 0-1 (kept): [(0, " in out
    assert "Change from the previous plan\nprevious plan $" in out
    assert "route(s) changed" in out


def test_the_setup_cell_outside_the_repository_says_what_to_do(tmp_path):
    """QA s21: a notebook copied out of the repository failed in its first cell with a bare
    StopIteration (no problems/ folder above it)."""
    import os
    import subprocess
    setup = _build_module().SETUP
    env = {**os.environ, "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", setup], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0 and "StopIteration" not in out.stderr
    assert f"FileNotFoundError: no problems/chat-assistant.yaml in {tmp_path} or a folder above it" in out.stderr
    assert "Open the notebook from the repository's notebooks/ folder" in out.stderr


def _check_model_tier(nb) -> None:
    """Each model-tier plan is plotted at the quality its formats deliver, not the catalog (BF16)
    score: with no quality floor the solver serves Llama-3.1-8B in fp4 (68.5), which was plotted
    at 73.  The expected score is the catalog's own arithmetic (score x retention), not the plan's."""
    from solver.coefficients import quality_of
    from solver.problem.load import load_problem

    catalog = load_problem(ROOT / "problems" / "chat-assistant.yaml").catalog
    cell = next(c for c in nb.cells if c.cell_type == "code" and "workloads.chat.models=" in c.source)
    lines = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").splitlines()
    assert lines[0].split()[:4] == ["model", "catalog", "delivered", "format"], lines[0]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert len(rows) == 5
    for model, (_, catalog_q, delivered, fmt, *_rest) in rows.items():
        assert float(catalog_q) == pytest.approx(catalog.models[model].quality.value, abs=0.05)
        # one format: its score; several ('fp8+int8': a plan on two kinds of hardware) a routed mean
        # between theirs
        want = [quality_of(catalog.models[model], catalog.quantization[f], catalog.quantization)
                for f in fmt.split("+")]
        assert min(want) - 0.05 <= float(delivered) <= max(want) + 0.05, (model, fmt)
    assert float(rows["llama-3.1-8b"][2]) < float(rows["llama-3.1-8b"][1])


def test_a_viz_figure_shows_as_a_cell_result_in_a_fresh_kernel(kernel_path, monkeypatch):
    """viz builds figures without pyplot, so no inline printer is registered for them: a fresh
    kernel showed only '<Figure size 960x480 with 1 Axes>'.  With `%matplotlib inline` active the
    figure still shows, once."""
    from nbformat.v4 import new_code_cell, new_notebook

    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)       # the kernel's own default, as for a user
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    plan = {"status": "optimal", "objective": {"total": 100.0, "currency": "USD", "horizon_hours": 730.0,
                                               "breakdown": {"rental_on_demand": 100.0}}}
    make = f"from solver import viz\nviz.figures({plan!r})['cost_breakdown']"
    nb = new_notebook(cells=[new_code_cell(make), new_code_cell("%matplotlib inline\n" + make)])
    nbclient.NotebookClient(nb, timeout=120, kernel_name=KERNEL).execute()
    pngs = []
    for cell in nb.cells:
        shown = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(shown) == 1, cell.outputs
        pngs.append(base64.b64decode(shown[0]["data"]["image/png"]))
        assert pngs[-1][:8] == b"\x89PNG\r\n\x1a\n"
    # without the inline backend it is viz's own PNG (960 x 480 px, the IHDR width and height);
    # the inline printer crops it to its bounding box
    assert struct.unpack(">II", pngs[0][16:24]) == (960, 480)
