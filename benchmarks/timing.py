"""Interleaved timing: every contender runs back to back with the others, so load hits all.

For each round and each ``n``, all contenders run once, in an order that reverses every round
(ABC, CBA, ABC, ...) so that slow drift in the machine's load favours none of them. Each run is
timed on the wall clock and on a CPU clock (the CPU seconds of the processes doing the work),
which other processes' load disturbs much less. Ratios are taken both from the best round of
each contender and per round (the contender's time over the baseline's in the same round,
summarised by the median).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["CpuClock", "Runner", "Samples", "Timed", "interleave", "paired_ratio"]

#: Runs one workload with ``n`` variations; raises if the result is wrong.
Runner = Callable[[int], None]
#: CPU seconds used so far by whatever does a contender's work.
CpuClock = Callable[[], float]


@dataclass(frozen=True)
class Timed:
    """A runner and the CPU clock that sees its work."""

    run: Runner
    cpu: CpuClock = time.process_time


@dataclass
class Samples:
    """Wall and CPU seconds per round of one (contender, n)."""

    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu_seconds)


def _run_once(timed: Timed, n: int, samples: Samples) -> None:
    cpu, wall = timed.cpu(), time.perf_counter()
    timed.run(n)
    samples.seconds.append(time.perf_counter() - wall)
    samples.cpu_seconds.append(timed.cpu() - cpu)


def interleave(
    runners: Mapping[str, Timed],
    rounds: Mapping[int, int],
    *,
    deadline: float,
    log: Callable[[str], None] = print,
) -> dict[tuple[str, int], Samples]:
    """Time every runner for every ``n`` in ``rounds``, that many rounds each, interleaved.

    Round ``r`` runs the ``n`` that still need a round, smallest first. Stops early, after at
    least one round, when the next round would likely end after ``deadline`` (a
    ``time.monotonic()`` value).
    """
    samples = {(key, n): Samples() for key in runners for n in rounds}
    keys = list(runners)
    flips = 0
    total = max(rounds.values())
    for repeat in range(total):
        started = time.monotonic()
        for n in sorted(n for n, wanted in rounds.items() if wanted > repeat):
            order = keys if flips % 2 == 0 else keys[::-1]
            flips += 1
            for key in order:
                _run_once(runners[key], n, samples[key, n])
        took = time.monotonic() - started
        log(f"    round {repeat + 1}/{total} done in {took:.1f} s")
        if repeat + 1 < total and time.monotonic() + took > deadline:
            log(f"    stopping after {repeat + 1} round(s): the time budget is spent")
            break
    return samples


def paired_ratio(contender: Samples, baseline: Samples) -> float:
    """Median over rounds of contender wall time / baseline wall time in the same round."""
    pairs = zip(contender.seconds, baseline.seconds, strict=False)
    return statistics.median(mine / theirs for mine, theirs in pairs)
