"""The benchmark runs end to end and writes well-formed JSON. A smoke test: its numbers come from a
tiny workload on a shared machine, so nothing here judges them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIELDS = {"name", "value", "baseline", "ratio", "target", "met"}
NUMBER_OR_NULL = (int, float, type(None))


@pytest.mark.timeout(300)
def test_bench_writes_every_figure_as_json(tmp_path: Path) -> None:
    # Given the benchmark with its smallest workload
    out = tmp_path / "bench.json"

    # When it runs
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_creds.bench", "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
        check=False,
    )

    # Then every figure group was measured, printed as a table, and written as JSON objects
    # with the same six fields
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| figure" in done.stdout
    assert "cores" in done.stdout.splitlines()[0]
    figures = json.loads(out.read_text())
    assert isinstance(figures, list)
    assert figures
    for figure in figures:
        assert set(figure) == FIELDS, figure
        assert isinstance(figure["name"], str)
        assert figure["name"]
        assert isinstance(figure["target"], str)
        assert figure["target"]
        for field in ("value", "baseline", "ratio"):
            assert isinstance(figure[field], NUMBER_OR_NULL), figure
        assert figure["met"] in (True, False, None), figure
        if figure["target"] == "reported":
            assert figure["met"] is None, figure
        else:
            assert isinstance(figure["met"], bool), figure
            assert figure["value"] is not None, figure
            assert figure["baseline"] is not None, figure
    assert {f["name"].split()[0] for f in figures} == {str(n) for n in range(1, 8)}
    assert "FAILED" not in done.stdout
