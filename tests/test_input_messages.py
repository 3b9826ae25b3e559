"""Input errors that lacked a fix line or pointed at the wrong line (QA s18): each names its place,
what is wrong and what to do."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from solver.cli import main

ROOT = Path(__file__).parents[1]
CHAT = ROOT / "problems" / "chat-assistant.yaml"
OVERRIDE = "      workloads.chat.demand.requests_per_s: 80"


def _run(argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, err.getvalue()


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_nan_field_says_how_to_fix_it(tmp_path):
    text = CHAT.read_text()
    f = tmp_path / "p.yaml"
    f.write_text(text.replace("requests_per_s: 40", "requests_per_s: .nan", 1))
    code, err = _run(["solve", f])
    assert code == 2 and "must be a finite number" in err
    assert "fix: give a plain finite number" in err


def test_a_bracketed_override_path_is_named_at_its_line_with_the_dotted_path(tmp_path):
    text = CHAT.read_text()
    assert OVERRIDE in text
    f = tmp_path / "p.yaml"
    f.write_text(text.replace(OVERRIDE, '      "workloads[chat].demand.requests_per_s": 80'))
    code, err = _run(["solve", f, "--scenario", "double-demand"])
    assert code == 2
    assert f"p.yaml:{_line_of(text, OVERRIDE)}:" in err
    assert "did you mean 'workloads.chat.demand.requests_per_s'?" in err


def test_a_field_an_override_creates_is_reported_at_the_override(tmp_path):
    text = CHAT.read_text()
    f = tmp_path / "p.yaml"
    f.write_text(text.replace(OVERRIDE, "      workload.chat.demand.requests_per_s: 80"))
    code, err = _run(["solve", f, "--scenario", "double-demand"])
    assert code == 2 and "workload: unknown field" in err
    assert f"p.yaml:{_line_of(text, OVERRIDE)}:" in err and "did you mean 'workloads'?" in err


def test_calibrate_refuses_an_infinite_copy_and_no_repeats_at_once_with_fixes(tmp_path):
    code, err = _run(["calibrate", "--accelerator", "h100-sxm", "--copy-mb", "inf", "--repeats", "0",
                      "--out", tmp_path / "c.yaml"])
    assert code == 2 and "2 input errors" in err and err.count("fix: ") == 2
    assert "--copy-mb must be a finite number > 0" in err and "--repeats must be >= 1" in err
    assert not (tmp_path / "c.yaml").exists()
