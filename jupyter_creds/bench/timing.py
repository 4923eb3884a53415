"""Measuring: per-call times, medians of repeated runs, subject and baseline interleaved."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    """How much each figure repeats. ``runs`` repetitions give each median; ``requests`` is the
    number of sequential requests in one run."""

    runs: int
    requests: int
    cached_calls: int
    bursts: int  # figure 3's bursts last ~0.1 s, easily hit by other processes: many of them
    concurrency: int
    sizes: tuple[int, ...]  # integrations listed in figure 4, ascending
    list_seconds: float  # how long one run of figure 4 lasts, about (fewer requests when larger)
    footprint_integrations: int  # figures 5 and 6
    starts: int
    imports: int
    load_clients: int
    load_seconds: float


FULL = Workload(
    runs=15,
    requests=300,
    cached_calls=20_000,
    bursts=41,
    concurrency=100,
    sizes=(10, 100, 1000),
    list_seconds=0.3,
    footprint_integrations=1000,
    starts=7,
    imports=15,
    load_clients=200,
    load_seconds=60,
)
QUICK = Workload(
    runs=7,
    requests=150,
    cached_calls=10_000,
    bursts=21,
    concurrency=100,
    sizes=(10, 100, 1000),
    list_seconds=0.15,
    footprint_integrations=1000,
    starts=4,
    imports=9,
    load_clients=200,
    load_seconds=10,
)
# For the test suite: every figure is produced, and none of its numbers means anything.
SMOKE = Workload(
    runs=2,
    requests=5,
    cached_calls=50,
    bursts=2,
    concurrency=10,
    sizes=(4, 8, 16),
    list_seconds=0.005,
    footprint_integrations=16,
    starts=1,
    imports=2,
    load_clients=5,
    load_seconds=1,
)


_STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(
        f"bench [{time.perf_counter() - _STARTED:5.1f} s]: {message}", file=sys.stderr, flush=True
    )


def paired(
    subject: Callable[[], object],
    baseline: Callable[[], object],
    *,
    runs: int,
    n: int,
    n_baseline: int | None = None,
    warmup: int = 20,
) -> tuple[list[float], list[float]]:
    """Mean seconds per call of ``subject`` and of ``baseline``, one pair of numbers per run.

    Calls interleave within each run: one subject call, then ``n_baseline // n`` baseline calls
    (one by default), the order swapping every step. Both sides of a pair then see the same
    machine: on a shared machine other processes come and go, and they must not land on one
    side only.
    """
    per_step = max(1, (n_baseline or n) // n)
    clock = time.perf_counter
    for _ in range(warmup):
        subject()
        baseline()
    s: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        t_subject = t_baseline = 0.0
        for step in range(n):
            if step % 2:
                t0 = clock()
                for _ in range(per_step):
                    baseline()
                t1 = clock()
                subject()
                t2 = clock()
                t_baseline += t1 - t0
                t_subject += t2 - t1
            else:
                t0 = clock()
                subject()
                t1 = clock()
                for _ in range(per_step):
                    baseline()
                t2 = clock()
                t_subject += t1 - t0
                t_baseline += t2 - t1
        s.append(t_subject / n)
        b.append(t_baseline / (n * per_step))
    return s, b
