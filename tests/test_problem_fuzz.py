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


def test_an_alias_bomb_is_refused_at_once():
    """QA s27: 254 bytes of nested 9-way aliases (4.8 M values once expanded) took 16 s in every loader.
    Counted without expanding, by hand: 9 + 1 = 10 values at the first level, 9 x 10 + 1 at each next."""
    import time
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 8)]
    text = "\n".join(lines) + "\n"
    size = 10
    for _ in range(7):
        size = 9 * size + 1
    t0 = time.perf_counter()
    try:
        load_problem_text(text)
    except InputError as exc:
        msg = str(exc)
    else:
        raise AssertionError("an alias bomb loaded")
    assert time.perf_counter() - t0 < 2
    # the whole document: 8 keys + the 8 lists (sizes 10, 91, 820, ...) + the mapping itself
    total = 1 + 8 + sum(10 * 9 ** i + (9 ** i - 1) // 8 for i in range(8))
    assert size == 10 * 9 ** 7 + (9 ** 7 - 1) // 8
    assert f"expand to {total:,} values" in msg


def test_a_fraction_where_a_whole_number_goes_gets_a_fix_line():
    """QA s27: 'Input should be a valid integer, got a number with a fractional part (got 1e-300)' had no fix."""
    try:
        load_problem_text(GOOD.replace("  accelerators: [h100-sxm, l4]", "  accelerators: [h100-sxm, l4]\n"
                                                                         "  tensor_parallel: [1.5]"))
    except InputError as exc:
        (issue,) = [i for i in exc.issues if "tensor_parallel" in (i.path or "")]
    else:
        raise AssertionError("a tensor-parallel degree of 1.5 loaded")
    assert "fractional part" in issue.message and issue.hint.startswith("give a whole number")
