"""gpt-oss measurements shipped beside the calibration (``catalogs/calibration/gpt_oss_trtllm.csv``, QA s22):
every row must be read as the replica its source ran (TP1, the scheme of the page's llm_options for that
GPU family), with its source, so that `fleetopt perf validate` scores all of them and none is skipped.

Counts and values are read off the source tables by hand (03e27c7's GPT-OSS tables: 6 + 6 + 5 + 5 rows for
gpt-oss-20b on B200, GB200, H200, H100 and 6 + 5 for gpt-oss-120b on GB200, H200; 1.2.0's: 5 per TP1 column,
20b on B200, GB200, H200 and 120b on GB200).
"""

from __future__ import annotations

from collections import Counter

import pytest

from solver.catalog import default_catalog
from solver.perf import default_params
from solver.perf.calibration import interpret, read_rows
from solver.perf.params import calibration_dir

CSV = calibration_dir() / "gpt_oss_trtllm.csv"


@pytest.fixture(scope="module")
def cases():
    rows = read_rows(CSV)
    got, skipped = interpret(rows, default_catalog(), default_params())
    return rows, got, skipped


def test_every_row_is_scored_with_its_source(cases):
    rows, got, skipped = cases
    assert skipped == []
    assert len(got) == len(rows) == 33 + 20
    for r in rows:
        assert r["source_url"].startswith("https://") and r["source_id"].startswith("TRTLLM-perf-")
        assert r["tensor_parallel"] == "1" and r["value"] == r["value_per_accelerator"]
    assert {c.kind for c in got} == {"offline"}


def test_rows_run_the_scheme_of_their_gpu_family(cases):
    _, got, _ = cases
    by = Counter((c.candidate.model, c.candidate.accelerator, c.candidate.quantization) for c in got)
    assert by == {
        ("gpt-oss-20b", "b200", "mxfp4-w4a8"): 6 + 5, ("gpt-oss-20b", "gb200", "mxfp4-w4a8"): 6 + 5,
        ("gpt-oss-20b", "h200-sxm", "mxfp4"): 5 + 5, ("gpt-oss-20b", "h100-sxm", "mxfp4"): 5,
        ("gpt-oss-120b", "gb200", "mxfp4-w4a8"): 6 + 5, ("gpt-oss-120b", "h200-sxm", "mxfp4"): 5,
    }


def test_figures_as_published(cases):
    _, got, _ = cases
    meas = {(c.source_id, c.candidate.model, c.candidate.accelerator, c.workload.input_tokens,
             c.workload.output_tokens): c.measured for c in got}
    # 03e27c7: GPT-OSS 120B, H200 TP1, 1000/1000 and 1024/8192; GPT-OSS 20B, H100 TP1, 32768/1024
    assert meas[("TRTLLM-perf-dev-03e27c7", "gpt-oss-120b", "h200-sxm", 1000, 1000)] == 6868
    assert meas[("TRTLLM-perf-dev-03e27c7", "gpt-oss-120b", "h200-sxm", 1024, 8192)] == 3543
    assert meas[("TRTLLM-perf-dev-03e27c7", "gpt-oss-20b", "h100-sxm", 32768, 1024)] == 785
    # 1.2.0: GPT-OSS 20B, H200 TP1, 1024/32768 (a shape 03e27c7 lacks for H200)
    assert meas[("TRTLLM-perf-1.2.0", "gpt-oss-20b", "h200-sxm", 1024, 32768)] == 4240
