"""A burst well above capacity against a real ``vary serve`` on 127.0.0.1.

``make load`` (``python -m benchmarks.load``) sends ``--requests`` variation requests from
``--clients`` concurrent clients at a server whose queue holds ``--max-queue``. Like the official
clients, each client waits ``Retry-After`` when refused and tries again, until its request is
served or ``--deadline`` passes. The report gives the latency percentiles from first try to
answer, throughput, refusals (429, 503, each with ``Retry-After``) and errors. It exits non-zero
if any answer was a 5xx other than 503, or a 429 or 503 came without ``Retry-After``: a flood
must be met with work or a time to come back.

Bounded: a fixed number of requests, a timeout on each and a deadline on the whole burst; the
server listens on loopback only and is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from .server import running_server

PHOTO = Path(__file__).parent.parent / "tests" / "data" / "photos" / "coffee.jpg"
RESULTS = Path(__file__).parent / "results"
REQUEST_TIMEOUT = 120.0
# Waits longer than this between tries are cut short, to keep the run bounded.
MAX_WAIT = 5.0


@dataclass(frozen=True)
class Outcome:
    status: int  # the last answer; 0: no answer (a transport error)
    seconds: float  # from the first try to the last answer
    refusals: int
    refusals_without_retry_after: int


@dataclass(frozen=True)
class Report:
    requests: int
    clients: int
    max_queue: int
    wall_seconds: float
    statuses: dict[str, int]
    refusals: int
    p50: float | None
    p95: float | None
    p99: float | None
    throughput: float
    refusals_without_retry_after: int
    errors: int


def _one(url: str, size: int, deadline: float) -> Outcome:
    started = time.perf_counter()
    refusals = bare = 0
    while True:
        try:
            response = httpx.post(
                f"{url}/v1/images/variations",
                files={"image": ("coffee.jpg", PHOTO.read_bytes(), "image/jpeg")},
                data={"size": f"{size}x{size}", "response_format": "b64_json"},
                timeout=REQUEST_TIMEOUT,
            )
        except httpx.HTTPError:
            return Outcome(0, time.perf_counter() - started, refusals, bare)
        if response.status_code not in (429, 503):
            return Outcome(response.status_code, time.perf_counter() - started, refusals, bare)
        refusals += 1
        retry_after = response.headers.get("retry-after")
        bare += retry_after is None
        wait = min(MAX_WAIT, float(retry_after or 1))
        if time.monotonic() + wait > deadline:
            return Outcome(response.status_code, time.perf_counter() - started, refusals, bare)
        time.sleep(wait)


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def burst(requests: int, clients: int, max_queue: int, size: int, deadline: float) -> Report:
    with running_server("--max-queue", str(max_queue)) as server:
        started = time.perf_counter()
        until = time.monotonic() + deadline
        with ThreadPoolExecutor(max_workers=clients) as pool:
            outcomes = list(pool.map(lambda _: _one(server.url, size, until), range(requests)))
        wall = time.perf_counter() - started
    served = [o.seconds for o in outcomes if o.status == 200]
    return Report(
        requests=requests,
        clients=clients,
        max_queue=max_queue,
        wall_seconds=round(wall, 2),
        statuses={str(k): v for k, v in sorted(Counter(o.status for o in outcomes).items())},
        refusals=sum(o.refusals for o in outcomes),
        p50=_percentile(served, 0.50),
        p95=_percentile(served, 0.95),
        p99=_percentile(served, 0.99),
        throughput=round(len(served) / wall, 2),
        refusals_without_retry_after=sum(o.refusals_without_retry_after for o in outcomes),
        errors=sum(o.status not in (200, 429, 503) for o in outcomes),
    )


def _markdown(report: Report) -> str:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    return "\n".join(
        [
            f"# vary load test: {report.requests} requests from {report.clients} clients, "
            f"queue {report.max_queue}",
            "",
            "| p50 | p95 | p99 | throughput | final statuses | refusals (429/503) "
            "| refusals without Retry-After | errors |",
            "|---|---|---|---|---|---|---|---|",
            f"| {seconds(report.p50)} | {seconds(report.p95)} | {seconds(report.p99)} "
            f"| {report.throughput} /s | {report.statuses} | {report.refusals} "
            f"| {report.refusals_without_retry_after} | {report.errors} |",
            "",
            f"Wall time {report.wall_seconds} s. Latency: from a request's first try to its "
            "answer, waits for Retry-After included, of the requests served (200).",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-queue", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds for the burst")
    args = parser.parse_args()
    report = burst(args.requests, args.clients, args.max_queue, args.size, args.deadline)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    text = _markdown(report)
    (RESULTS / "load.md").write_text(text + "\n")
    print(text)
    return 1 if report.errors or report.refusals_without_retry_after else 0


if __name__ == "__main__":
    raise SystemExit(main())
