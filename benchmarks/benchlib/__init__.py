"""The benchmark harness: ``main(argv)`` runs the chosen cells and writes the reports.

Servers run pinned to CPU 0 and the load generator (wrk, or the Python one) to CPU 1;
results are medians over interleaved rounds with ratios to a baseline of the same run.
Returns the results as the dict that is also written as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import procs, report
from .cells import CELLS, resolve
from .runners import RUNNERS, Options
from .servers import BENCH_DIR
from .wrk import find_wrk

SERVER_CPU, LOAD_CPU = 0, 1
_PACKAGES = ("asyncdev", "uvicorn", "httptools", "uvloop", "h11", "hypercorn", "granian",
             "daphne", "gunicorn", "werkzeug", "flask", "django", "a2wsgi", "websockets",
             "wsproto", "watchfiles")


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark asyncdev against its peers on this machine (127.0.0.1 only).")
    p.add_argument("--cells", type=_csv, default=None,
                   help="comma-separated cells, or 'all' (default: every cell but the extras)")
    p.add_argument("--servers", type=_csv, default=None,
                   help="comma-separated server names or families, or 'all' (default: each "
                        "cell's usual set); the cell's baseline is always added")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds of load per measurement (default 5)")
    p.add_argument("--connections", type=int, default=None,
                   help="concurrent connections (default: per cell, 32 for most)")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results",
                   help="directory for the Markdown, JSON and chart (default benchmarks/results)")
    p.add_argument("--quick", action="store_true", help="1 round of 2 s: a smoke run")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto",
                   help="load generator for HTTP cells (auto: wrk when installed)")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    p.add_argument("--pin-startup", action="store_true",
                   help="pin the startup cells' servers to CPU 0 too (one CPU for a "
                        "reloader's processes)")
    p.add_argument("--chart", action="store_true", help="also draw a bar chart (matplotlib)")
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the servers' logs and scratch files (path printed at the end)")
    p.add_argument("--list", action="store_true", help="list cells and servers, then exit")
    return p


def _versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _list() -> str:
    lines = []
    for cell in CELLS.values():
        names = ", ".join(s.name + ("*" if s.name in cell.default else "")
                          for s in cell.servers)
        lines.append(f"{cell.name}{' (extra)' if cell.extra else ''}: {cell.description}\n"
                     f"    baseline {cell.baseline}; servers (* = default): {names}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parser().parse_args(argv)
    if args.list:
        print(_list())
        return {}
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    duration = args.duration if args.duration is not None else (2.0 if args.quick else 5.0)
    if rounds < 1 or duration <= 0:
        raise SystemExit("--rounds must be at least 1 and --duration positive")
    cells = resolve(args.cells)
    if args.servers:
        known = {"all"} | {x for c in CELLS.values() for s in c.servers for x in (s.name, s.family)}
        unknown = [name for name in args.servers if name not in known]
        if unknown:
            raise SystemExit(f"unknown server(s): {', '.join(unknown)} (see --list)")
    wrk = find_wrk()
    if args.loadgen == "wrk" and wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk), use --loadgen python")
    loadgen = "wrk" if args.loadgen == "wrk" or (args.loadgen == "auto" and wrk) else "python"
    pinned = not args.no_pin and procs.can_pin()
    workdir = Path(tempfile.mkdtemp(prefix="asyncdev-bench-"))
    opt = Options(
        rounds=rounds, duration=duration, connections=args.connections, loadgen=loadgen,
        wrk=wrk, server_cpu=SERVER_CPU if pinned else None,
        load_cpu=LOAD_CPU if pinned else None, workdir=workdir,
        pin_all=args.pin_startup,
        # wrk counts whole seconds; the Python generator can warm up for less.
        warmup=1.0 if loadgen == "wrk" else min(1.0, duration / 4))
    started = datetime.datetime.now().astimezone()
    results: dict[str, Any] = {
        "meta": {
            "started": started.isoformat(timespec="seconds"), "cpu_model": _cpu_model(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "loadgen": loadgen, "pinned": pinned,
            "rounds": rounds, "duration": duration, "connections": args.connections,
            "loadavg_before": _loadavg(), "versions": _versions(),
            "argv": list(argv if argv is not None else sys.argv[1:]),
        },
        "cells": {},
    }
    # The harness itself polls servers and may generate load: keep it off the server's CPU.
    previous = procs.pin_self(opt.load_cpu)
    clock = time.monotonic()
    try:
        for cell in cells:
            chosen = cell.select(args.servers)
            opt.log(f"== {cell.name}: {', '.join(s.name for s in chosen)}")
            runs = RUNNERS[cell.kind](cell, chosen, opt)
            results["cells"][cell.name] = report.cell_result(cell, runs)
    finally:
        procs.restore_affinity(previous)
        if args.keep_logs:
            opt.log(f"logs and scratch files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["loadavg_after"] = _loadavg()
    results["meta"]["elapsed_s"] = round(time.monotonic() - clock, 1)
    text = report.markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"bench-{started:%Y%m%d-%H%M%S}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(text)
    print(text)
    written = [stem.with_suffix(".md"), stem.with_suffix(".json")]
    if args.chart:
        if report.chart(results, str(stem.with_suffix(".png"))):
            written.append(stem.with_suffix(".png"))
        else:
            opt.log("no chart: matplotlib is not installed (or nothing to draw)")
    opt.log("wrote " + ", ".join(str(p) for p in written))
    return results
