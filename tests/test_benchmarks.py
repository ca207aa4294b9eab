"""The benchmark's own parts run against the engine as it is (``make bench`` itself takes
minutes; these catch a section that the code under it has broken)."""

from __future__ import annotations

from benchmarks.profiling import pipeline_stages, profile_engine
from benchmarks.report import _headline_table, headline
from benchmarks.workload import load_workload


def test_the_profile_and_the_stage_timing_run_on_the_engine():
    work = load_workload(64)
    profile = profile_engine(work, 2)
    for graph in ("ours", "plain_graph"):
        assert profile[graph]["conv_ms"] > 0
        assert profile[graph]["conv_gflops_executed"] > 0
    stages = pipeline_stages(work, 2, repeats=1)
    assert all(stage.ms > 0 for stage in stages)
    assert sum(stage.inside_model for stage in stages) == 2  # the head and the looks


def _end_to_end(size: int, n: int, best: float, median: float) -> dict[str, object]:
    return {
        "size": size,
        "n": n,
        "contender": "ours-http",
        "ratio_best": best,
        "ratio_paired": median,
        "ratio_cpu": best,
    }


def test_the_headline_says_which_of_the_issues_targets_held():
    rows = [_end_to_end(1024, 1, 0.75, 0.85), _end_to_end(1024, 10, 0.55, 0.45)]
    rows.append(_end_to_end(1024, 7, 0.1, 0.1))  # no target for this n
    results = {"timing": {"rows": rows}}
    results["headline"] = headline(results)
    assert [line["target"] for line in results["headline"]] == [0.8, None, 0.5]
    table = "\n".join(_headline_table(results))
    assert "n=1 | 0.750 | 0.850 | 0.750 | lower | <= 0.8 | yes / no |" in table
    assert "| <= 0.5 | no / yes |" in table
    assert "n=7 | 0.100 | 0.100 | 0.100 | lower |  |  |" in table


def test_the_targets_are_for_1024x1024_only():
    results = {"timing": {"rows": [_end_to_end(512, 1, 0.5, 0.5)]}}
    assert [line["target"] for line in headline(results)] == [None]
