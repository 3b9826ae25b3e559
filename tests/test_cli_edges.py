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
