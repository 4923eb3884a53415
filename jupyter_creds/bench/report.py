"""Figures, the machine they were measured on, the table and the JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Figure:
    """One line of the table.

    ``value`` and ``baseline`` are medians over repeated runs. ``ratio`` is the median of the
    per-run ratios where runs come in pairs measured next to each other (a machine whose load
    changes during the benchmark moves both sides of a pair alike), else ``value / baseline``.
    ``target`` reads against the ratio ("<= 1.5", ">= 50"), or against the value when it says so
    ("value <= 30"); ``met`` is None for figures that are only reported."""

    name: str
    value: float | None
    baseline: float | None
    ratio: float | None
    target: str
    met: bool | None

    @classmethod
    def compare(
        cls, name: str, value: float, baseline: float, target: str, *, judged: float | None = None
    ) -> Figure:
        ratio = value / baseline if baseline else None
        subject = ratio if judged is None else judged
        return cls(name, value, baseline, ratio, target, meets(subject, target))

    @classmethod
    def from_runs(
        cls,
        name: str,
        values: Sequence[float],
        baselines: Sequence[float],
        target: str,
        *,
        scale: float = 1.0,
    ) -> Figure:
        """A figure from paired runs (seconds, shown times ``scale``)."""
        ratio = statistics.median(v / b for v, b in zip(values, baselines, strict=True))
        return cls(
            name,
            statistics.median(values) * scale,
            statistics.median(baselines) * scale,
            ratio,
            target,
            None if target == "reported" else meets(ratio, target),
        )

    @classmethod
    def reported(cls, name: str, value: float | None, baseline: float | None = None) -> Figure:
        ratio = value / baseline if value is not None and baseline else None
        return cls(name, value, baseline, ratio, "reported", None)


def meets(subject: float | None, target: str) -> bool | None:
    """``subject`` against the last "<op> <number>" of ``target``."""
    if subject is None:
        return False
    words = target.split()
    op, bound = words[-2], float(words[-1])
    return {
        "<=": subject <= bound,
        ">=": subject >= bound,
        "==": subject == bound,
        "<": subject < bound,
        ">": subject > bound,
    }[op]


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": str(usable),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
    }


def _number(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def table(figures: list[Figure]) -> str:
    """A Markdown table (it goes into the README as is)."""
    head = ("figure", "value", "baseline", "ratio", "target", "met")
    rows = [
        (
            f.name,
            _number(f.value),
            _number(f.baseline),
            _number(f.ratio),
            f.target,
            {True: "yes", False: "**NO**", None: "-"}[f.met],
        )
        for f in figures
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [head, tuple("-" * w for w in widths), *rows]
    right = {1, 2, 3}
    return "\n".join(
        "| "
        + " | ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        + " |"
        for r in lines
    )


def _rounded(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.4g}")


def write_json(path: str, figures: list[Figure]) -> None:
    data = [
        {
            **asdict(f),
            "value": _rounded(f.value),
            "baseline": _rounded(f.baseline),
            "ratio": _rounded(f.ratio),
        }
        for f in figures
    ]
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
