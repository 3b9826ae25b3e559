"""Command-line edges an adversarial review found (QA s18): each was a traceback, an "internal
error" (exit 1), a file written where it must not be, or a wrong message; each is now bad input
(exit 2) with the file or flag named, or handled."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import solver.cli as cli
from solver.cli import main
from solver.cli.pareto_cmd import file_stem

ROOT = Path(__file__).parents[1]
CHAT = ROOT / "problems" / "chat-assistant.yaml"


def _run(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_an_infinite_time_limit_is_bad_input_like_in_the_file(tmp_path):
    """--time-limit inf reached OR-Tools, which takes whole milliseconds: OverflowError, exit 5."""
    for value in ("inf", "1e400"):
        code, _, err = _run(["solve", str(CHAT), "--time-limit", value, "--backend", "ortools",
                             "--json", str(tmp_path / "p.json")])
        assert code == 2 and "must be a finite number of seconds > 0" in err
        assert not (tmp_path / "p.json").exists()


def test_ctrl_c_while_the_commands_load_is_a_clean_interrupt(monkeypatch):
    """Ctrl-C in the first ~0.9 s (the command modules loading) printed a traceback."""
    def interrupted():
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "build_parser", interrupted)
    code, out, err = _run(["solve", str(CHAT)])
    assert code == 130 and err == "interrupted\n" and "Traceback" not in out + err


@pytest.mark.parametrize("name,stem", [("../../escaped", "_.._escaped"), ("/tmp/x/abs", "_tmp_x_abs"),
                                       ("a\0b", "a_b"), ("x" * 300, "x" * 100), ("..", "problem"),
                                       ("chat-assistant", "chat-assistant"), ("flotte ünïcode", "flotte_ünïcode")])
def test_pareto_names_its_default_files_inside_the_out_dir(name, stem):
    """The default names took the problem's name verbatim: '../../escaped' wrote two folders up, an
    absolute name anywhere, a null byte or 300 characters crashed (exit 1)."""
    assert file_stem(name) == stem
    assert "/" not in file_stem(name) and "\0" not in file_stem(name)


def test_perf_measurements_that_are_a_folder_or_binary_are_bad_input(tmp_path):
    perf = ["perf", "--accelerator", "h100-sxm", "--model", "llama-3.1-8b", "--quantization", "bf16",
            "--input-tokens", "100", "--output-tokens", "100", "--measurements"]
    (tmp_path / "dir.csv").mkdir()
    code, _, err = _run(perf + [str(tmp_path / "dir.csv")])
    assert code == 2 and "is a directory, not a file" in err and "name a .csv file" in err
    (tmp_path / "bin.csv").write_bytes(bytes(range(200, 256)))
    code, _, err = _run(perf + [str(tmp_path / "bin.csv")])
    assert code == 2 and "not UTF-8 text" in err


def test_a_file_name_over_255_bytes_is_bad_input_as_input_and_as_output(tmp_path):
    long = "y" * 300
    code, _, err = _run(["solve", str(CHAT), "--json", str(tmp_path / f"{long}.json")])
    assert code == 2 and "file name too long (305 bytes" in err
    code, _, err = _run(["validate", str(tmp_path / f"{long}.yaml")])
    assert code == 2 and "cannot read" in err


def test_standard_output_redirected_to_the_input_is_refused(tmp_path):
    """`solve pb.yaml --json - >> pb.yaml` appended the plan to the problem file."""
    pb = tmp_path / "pb.yaml"
    shutil.copy(CHAT, pb)
    before = pb.read_bytes()
    for flag in ("-", str(pb)):
        with open(pb, "ab") as out:
            r = subprocess.run([sys.executable, "-m", "solver", "solve", str(pb), "--json", flag, "--quiet"],
                               stdout=out, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert r.returncode == 2 and "redirected to an input file" in r.stderr
        assert pb.read_bytes() == before


@pytest.mark.parametrize("key", ["accelerators", "regions", "providers"])
def test_an_empty_fleet_filter_is_refused_not_read_as_everything(tmp_path, key):
    d = yaml.safe_load(CHAT.read_text())
    d["fleet"][key] = []
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    code, _, err = _run(["validate", str(f)])
    assert code == 2 and f"fleet.{key}: must not be empty (leave the key out to allow all)" in err


def test_verify_names_a_total_given_as_a_string(tmp_path):
    plan = tmp_path / "plan.json"
    assert _run(["solve", str(CHAT), "--json", str(plan), "--quiet"])[0] == 0
    d = json.loads(plan.read_text())
    given = str(round(d["objective"]["total"]))
    d["objective"]["total"] = given
    plan.write_text(json.dumps(d))
    code, out, err = _run(["verify", str(CHAT), str(plan)])
    assert code == 6, out + err
    # (the schema's type check names it first since s22, and the checks that read the figure stop)
    assert f'objective.total: string "{given}", where the plan schema has number or null' in out


def test_robust_refuses_a_nan_probability_and_names_the_scenarios_to_pick(tmp_path):
    code, _, err = _run(["robust", str(CHAT), "--multipliers", "1,2", "--probabilities", "0.5,nan",
                         "--json", str(tmp_path / "r.json")])
    assert code == 2 and "--probabilities takes finite numbers, got '0.5,nan'" in err
    code, _, err = _run(["robust", str(CHAT), "--scenarios", "", "--json", str(tmp_path / "r.json")])
    assert code == 2 and "name some of the problem's (tight-latency, double-demand) or 'all'" in err


def test_an_unwritable_table_folder_is_one_error(tmp_path, monkeypatch, capsys):
    """QA s27: `solve --csv ro/csv` with ro/ unwritable listed eleven 'cannot write here' errors, one per
    table (period tables of a one-period plan among them); `report --png-dir` four.  Now one, for the
    folder.  (The permission is stubbed: as root every folder is writable.)"""
    import os as os_mod

    import solver.yamlio as yamlio
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os_mod.access
    monkeypatch.setattr(yamlio.os, "access",
                        lambda p, mode, **kw: False if os_mod.path.realpath(p) == str(ro.resolve()) else real(p, mode, **kw))
    problem = Path(__file__).resolve().parents[1] / "problems" / "chat-assistant.yaml"
    rc = main(["solve", str(problem), "--csv", str(ro / "csv"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("cannot write") == 1 and "--csv: cannot write in this folder: no permission" in err


PLAN_READERS = [
    lambda plan, tmp: ["verify", str(CHAT), plan],
    lambda plan, tmp: ["simulate", str(CHAT), plan, "--duration", "5"],
    lambda plan, tmp: ["report", plan, "--html", str(tmp / "r.html")],
    lambda plan, tmp: ["solve", str(CHAT), "--warm-start", plan, "--quiet", "--time-limit", "20"],
]


@pytest.fixture(scope="module")
def chat_plan(tmp_path_factory) -> Path:
    plan = tmp_path_factory.mktemp("plan") / "plan.json"
    assert _run(["solve", str(CHAT), "--json", str(plan), "--quiet"])[0] == 0
    return plan


@pytest.mark.parametrize("argv", PLAN_READERS, ids=["verify", "simulate", "report", "warm-start"])
def test_plan_readers_say_a_bad_plan_file_in_words(tmp_path, monkeypatch, argv):
    """QA s27: a plan nested 5000 deep was a RecursionError (exit 1) in every plan reader; a folder,
    an unreadable file and bytes that are not UTF-8 showed Python's exception text ("[Errno 21] Is a
    directory", "'utf-8' codec can't decode byte 0xff")."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    code, out, err = _run(argv(str(deep), tmp_path))
    assert code == 2 and "deep.json: JSON nested too deeply" in err and "internal error" not in err
    (tmp_path / "dir.json").mkdir()
    code, out, err = _run(argv(str(tmp_path / "dir.json"), tmp_path))
    assert code == 2 and "is a directory, not a file" in err and "Errno" not in err
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{}")
    code, out, err = _run(argv(str(tmp_path / "bin.json"), tmp_path))
    assert code == 2 and "bin.json: not UTF-8 text (byte 0)" in err and "codec" not in err
    locked = tmp_path / "locked.json"
    locked.write_text("{}")
    real = Path.read_bytes

    def refuse(self):          # (chmod 000 does not stop root, who may run the tests)
        if self.name == "locked.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)
    monkeypatch.setattr(Path, "read_bytes", refuse)
    code, out, err = _run(argv(str(locked), tmp_path))
    assert code == 2 and "locked.json: cannot read: Permission denied" in err and "Errno" not in err


@pytest.mark.parametrize("argv", PLAN_READERS, ids=["verify", "simulate", "report", "warm-start"])
def test_plan_readers_skip_a_byte_order_mark(tmp_path, chat_plan, argv):
    """A plan saved by a Windows editor starts with a UTF-8 BOM: 'Unexpected UTF-8 BOM' (exit 2)
    where the YAML loader reads such a problem file."""
    plan = tmp_path / "bom.json"
    plan.write_bytes(b"\xef\xbb\xbf" + chat_plan.read_bytes())
    code, out, err = _run(argv(str(plan), tmp_path))
    assert code == 0, out + err


def test_robust_seed_cv_and_multipliers_are_refused_with_the_flag_named(tmp_path):
    """QA s27: --seed -1 was numpy's ValueError (exit 1); --multipliers 1e308 blamed 'the model's
    demand.served overflows ... check prices'; --demand-cv inf/1e308/1e23 blamed --multipliers, a flag
    never given."""
    code, _, err = _run(["robust", str(CHAT), "--seed", "-1"])
    assert code == 2 and "--seed: must be an integer >= 0 (got -1)" in err and "internal error" not in err
    code, _, err = _run(["robust", str(CHAT), "--multipliers", "1,1e308"])
    assert code == 2 and "--multipliers: demand multiplier 1e+308 scales workload" in err
    assert "fix: use multipliers of at most" in err and "overflows" not in err
    for cv in ("inf", "1e308", "1e23", "-1", "nan"):
        code, _, err = _run(["robust", str(CHAT), "--demand-cv", cv])
        assert code == 2 and "--demand-cv: must be a number in 0..10" in err and "--multipliers" not in err, err


def test_robust_probabilities_say_the_count_and_the_sum_with_a_fix():
    """QA s27: '0.5' for 2 scenarios and '0.5,0.6' said 'must be >= 0, one per scenario, summing to 1'
    with no fix line, count or sum; 'nan,1' got the multipliers' example."""
    code, _, err = _run(["robust", str(CHAT), "--multipliers", "1,2", "--probabilities", "0.5"])
    assert code == 2 and "--probabilities: 2 scenarios need 2 probabilities, got 1 (summing to 0.5)" in err
    assert "fix: one per scenario, each >= 0, summing to 1: e.g. --probabilities 0.5,0.5" in err
    code, _, err = _run(["robust", str(CHAT), "--demand-scenarios", "3", "--probabilities", "0.5,0.6,0.1"])
    assert code == 2 and "--probabilities: the 3 probabilities sum to 1.2, not 1" in err
    assert "e.g. --probabilities 0.33,0.33,0.34" in err
    code, _, err = _run(["robust", str(CHAT), "--multipliers", "1,2", "--probabilities", "nan,1"])
    assert code == 2 and "e.g. --probabilities 0.25,0.5,0.25" in err and "0.7,1,1.4" not in err
    code, _, err = _run(["robust", str(CHAT), "--scenarios", "all", "--probabilities", "0.2,0.3"])
    assert code == 2 and "the 2 probabilities sum to 0.5, not 1" in err


@pytest.mark.parametrize("argv,wanted", [
    (["sweep", str(CHAT), "--set", "workloads.chat.demand.requests_per_s=1,2", "--workers", "0", "--samples", "0",
      "--seed", "-1", "--time-limit", "0", "--no-cache"],
     ["workers (--workers) must be >= 1, got 0\n    fix: e.g. --workers 2", "samples (--samples) must be at least 1",
      "seed (--seed) must be an integer >= 0", "time_limit_s (--time-limit) must be a finite number"]),
    (["robust", str(CHAT), "--demand-scenarios", "0", "--demand-cv", "-1", "--percentile", "0", "--seed", "-1",
      "--time-limit", "0"],
     ["--demand-scenarios: must be at least 1", "--demand-cv: must be a number in 0..10", "--seed: must be an integer",
      "percentile (--percentile) must be in (0, 100]", "time_limit_s (--time-limit) must be a finite number"]),
    (["whatif", str(CHAT), "--steps", "0", "--max-factor", "0", "--unused", "-1", "--time-limit", "0"],
     ["--steps must be in 1..30", "--max-factor must be a number > 1 and at most 1e+06", "--unused must be >= 0",
      "time_limit_s (--time-limit) must be a finite number"]),
], ids=["sweep", "robust", "whatif"])
def test_every_bad_flag_of_an_explore_command_in_one_report(tmp_path, argv, wanted):
    """README: every input error at once (QA s27: sweep and robust reported the first bad flag, whatif
    left out --time-limit)."""
    code, _, err = _run(argv + ["--out" if argv[0] == "sweep" else "--json", str(tmp_path / "o.csv")])
    assert code == 2 and f"{len(wanted)} input errors:" in err, err
    for w in wanted:
        assert w in err, (w, err)


def test_whatif_max_factor_has_an_upper_bound():
    """QA s27: --max-factor 1e308 was accepted, overflowed (numpy warnings) and reported a failed
    re-solve with exit 0."""
    code, _, err = _run(["whatif", str(CHAT), "--max-factor", "1e308"])
    assert code == 2 and "--max-factor must be a number > 1 and at most 1e+06, got 1e+308" in err
    assert "fix: e.g. --max-factor 16" in err


def test_whatif_reports_its_flags_and_the_problem_files_errors_together(tmp_path):
    """QA s27: whatif reported the problem file's errors in a second run, after its flags were fixed."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(CHAT.read_text().replace("requests_per_s: 40", "requests_per_s: -40", 1))
    code, _, err = _run(["whatif", str(bad), "--steps", "0"])
    assert code == 2 and "2 input errors:" in err, err
    assert "--steps must be in 1..30" in err and "requests_per_s" in err
