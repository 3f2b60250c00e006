"""Smoke test of the benchmark harness in benchmarks/ (no performance is asserted).

Runs one short asgi-hello measurement with the Python load generator against servers the
harness starts itself (asyncdev once its CLI exists, plus the uvicorn-h11 baseline) and
checks the counts and the shape of the JSON and Markdown it writes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def test_harness_measures_and_writes_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (_has("uvicorn") and _has("uvloop")):
        pytest.skip("the baseline server (uvicorn on uvloop) is not installed")
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("benchlib", None)
    import benchlib

    server = "asyncdev" if _has("asyncdev._cli") else "uvicorn-h11"
    results = benchlib.main([
        "--cells", "asgi-hello", "--servers", server, "--rounds", "1", "--duration", "0.6",
        "--loadgen", "python", "--connections", "4", "--no-pin", "--out", str(tmp_path),
    ])

    cell = results["cells"]["asgi-hello"]
    assert cell["kind"] == "throughput"
    assert cell["baseline"] == "uvicorn-h11"
    assert {server, "uvicorn-h11"} == set(cell["servers"])
    for name, entry in cell["servers"].items():
        assert entry["status"] == "ok", (name, entry["note"])
        (sample,) = entry["samples"]
        assert sample["tool"] == "python"
        assert sample["requests"] > 0
        assert sample["errors"] == 0
        assert sample["cpu_us_per_req"] is not None and sample["cpu_us_per_req"] >= 0
        assert sample["peak_rss_mib"] > 0
        summary = entry["summary"]
        for key in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "idle_rss_mib",
                    "peak_rss_mib", "errors", "rounds"):
            assert key in summary, key
        assert summary["rps"] > 0
        assert set(entry["ratios"]) == {"rps", "cpu"}
    assert cell["servers"]["uvicorn-h11"]["ratios"]["rps"] == pytest.approx(1.0)

    written = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert written["cells"].keys() == results["cells"].keys()
    assert written["meta"]["loadgen"] == "python"
    assert written["meta"]["rounds"] == 1
    table = next(tmp_path.glob("bench-*.md")).read_text()
    assert "| server | req/s | x base |" in table
    assert f"| {server} |" in table


def test_startup_phases_times_each_phase_of_a_real_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not _has("flask"):
        pytest.skip("Flask is not installed")
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("startup_phases", None)
    import startup_phases

    assert startup_phases.main(["--rounds", "1", "--projects", "flask"]) == 0
    table = capsys.readouterr().out
    header = next(line for line in table.splitlines() if line.startswith("| phase"))
    assert header == "| phase | flask no reload | flask reload |"
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:]
            for line in table.splitlines() if line.startswith("| ") and line != header}
    # Every phase of both starts was seen in the real processes.
    for label in ("asyncdev, its command line and serving path", "within those: importing h11",
                  "the app: framework and project", "total: spawn to first 200"):
        no_reload, reload = (cell.strip(" |") for cell in rows[label])
        assert no_reload.isdigit() and reload.isdigit(), (label, rows[label])
    assert rows["server process: interpreter start"][1].strip(" |").isdigit()
    assert rows["server process: interpreter start"][0].strip(" |") == ""
