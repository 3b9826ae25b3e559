"""Property test: whatever a mutated problem file holds, loading it either
succeeds or raises the project's own InputError - never anything else."""

from __future__ import annotations

import contextlib
import copy
import io

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.cli import main
from solver.errors import InputError
from solver.problem.load import load_problem_text

from test_problem_validation import GOOD

BASE = yaml.safe_load(GOOD)

weird_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from([".nan", ".inf", "-.inf", "1e400", "0", "-0", "NaN", "1 s", "h100", "ünïcødé"]),
)


def _paths(node, prefix=()):
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _set(doc, path, value):
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _delete(doc, path):
    node = doc
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]


def _load(text: str) -> None:
    try:
        load_problem_text(text, file="fuzz.yaml")
    except InputError as exc:
        assert exc.issues, "an InputError must carry at least one issue"
        for issue in exc.issues:
            assert issue.message and issue.format()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_documents_raise_only_input_error(data):
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["set", "delete", "add"]))
        try:
            if action == "set":
                _set(doc, path, data.draw(weird_values))
            elif action == "delete":
                _delete(doc, path)
            else:
                parent = path[:-1]
                node = doc
                for p in parent:
                    node = node[p]
                if isinstance(node, dict):
                    node[data.draw(st.text(min_size=1, max_size=8))] = data.draw(weird_values)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    _load(text)


@settings(max_examples=80, deadline=None)
@given(cut=st.integers(0, len(GOOD)), junk=st.text(max_size=20))
def test_truncated_or_garbled_text(cut, junk):
    _load(GOOD[:cut] + junk)
    _load(junk + GOOD[cut:])


@settings(max_examples=25, deadline=None)
@given(blob=st.binary(max_size=64))
def test_cli_never_tracebacks_on_random_bytes(tmp_path_factory, blob):
    f = tmp_path_factory.mktemp("fz") / "x.yaml"
    f.write_bytes(blob)
    buf_err, buf_out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(buf_err), contextlib.redirect_stdout(buf_out):
        code = main(["validate", str(f)])
    err = buf_err.getvalue()
    assert code in (0, 2)
    assert "Traceback" not in err and "internal error" not in err
