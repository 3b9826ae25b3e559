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


def test_a_quality_target_above_every_allowed_model_names_the_models_that_reach_it(tmp_path):
    """QA s18: the fix read "lower min_score or allow a stronger model" and named none.  The catalog's
    scores (independently: every catalog model at or above the target on the same benchmark)."""
    import yaml

    from solver.catalog import default_catalog
    cat = default_catalog()
    doc = yaml.safe_load(CHAT.read_text())
    doc["workloads"][0]["models"] = ["llama-3.1-8b"]
    doc["workloads"][0]["quality"] = {"min_score": 80}
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, err = _run(["solve", f])
    assert code == 2
    own = cat.models["llama-3.1-8b"].quality.value
    assert f"lower min_score to at most {own:g}" in err
    reach = [m for m, mm in cat.models.items() if mm.quality.value >= 80 and mm.quality_benchmark == "MMLU"]
    assert reach and any(f"{m} (" in err for m in reach) and "to workloads[0].models" in err
    named = err.split("or add ")[1]
    assert all(m in reach for m in cat.models if f"{m} (" in named)
    doc["workloads"][0].pop("models")
    top = max(mm.quality.value for mm in cat.models.values())
    doc["workloads"][0]["quality"] = {"min_score": top + 1}
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    code, err = _run(["solve", f])
    assert code == 2 and f"no catalog model scores {top + 1:g}" in err
