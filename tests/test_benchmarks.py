"""The benchmark's own parts run against the engine as it is (``make bench`` itself takes
minutes; these catch a section that the code under it has broken)."""

from __future__ import annotations

from benchmarks.profiling import pipeline_stages, profile_engine
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
