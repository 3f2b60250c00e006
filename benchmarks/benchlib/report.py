"""Medians, same-run ratios, and the Markdown / JSON / chart outputs.

Every ratio is oriented so that above 1.00x means better than the cell's baseline
(more requests/s, less CPU per request, less time, less memory).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from .cells import Cell
from .runners import ServerRun


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0 or numerator <= 0:
        return None
    return numerator / denominator


def summarize(run: ServerRun, kind: str) -> dict[str, Any]:
    samples = run.samples

    def col(key: str) -> list[Any]:
        return [s.get(key) for s in samples]

    if not samples:
        return {}
    if kind == "throughput":
        rps = [v for v in col("rps") if v is not None]
        med = _median(rps)
        return {
            "rps": med, "p50_ms": _median(col("p50_ms")), "p99_ms": _median(col("p99_ms")),
            "cpu_us_per_req": _median(col("cpu_us_per_req")),
            "errors": sum(col("errors")), "requests": sum(col("requests")),
            "idle_rss_mib": run.info.get("idle", {}).get("rss_mib"),
            "idle_pss_mib": run.info.get("idle", {}).get("pss_mib"),
            "peak_rss_mib": max(col("peak_rss_mib")),
            "peak_pss_mib": max((v for v in col("peak_pss_mib") if v is not None), default=None),
            "spread_pct": (max(rps) - min(rps)) / med * 100 if med else None,
            "rounds": len(samples),
        }
    if kind == "startup":
        return {"ms": _median(col("ms")), "min_ms": min(col("ms")), "max_ms": max(col("ms")),
                "rounds": len(samples)}
    if kind == "idle-memory":
        return {"rss_mib": _median(col("rss_mib")), "pss_mib": _median(col("pss_mib")),
                "processes": _median(col("processes")), "rounds": len(samples)}
    if kind == "reload":
        done = [v for v in col("ms") if v is not None]
        failed = col("failed")
        return {"ms": _median(done), "max_ms": max(done, default=None),
                "failed_median": _median(failed), "failed_total": sum(failed),
                "requests_total": sum(col("requests")),
                "timeouts": sum(1 for v in col("ms") if v is None), "edits": len(samples)}
    if kind == "ws-echo":
        mps = [v for v in col("mps") if v is not None]
        med = _median(mps)
        return {"mps": med, "p50_ms": _median(col("p50_ms")), "p99_ms": _median(col("p99_ms")),
                "cpu_us_per_msg": _median(col("cpu_us_per_msg")), "errors": sum(col("errors")),
                "peak_rss_mib": max(col("peak_rss_mib")),
                "spread_pct": (max(mps) - min(mps)) / med * 100 if med else None,
                "rounds": len(samples)}
    if kind == "soak":
        growth = samples[-1]["rss_mib"] - samples[0]["rss_mib"]
        base_fds = run.info.get("baseline_fds")
        final_fds = samples[-1]["fds"]
        errors = sum(col("errors"))
        fds_ok = base_fds is not None and final_fds is not None and final_fds <= base_fds
        return {"requests": sum(col("requests")), "errors": errors, "rps": _median(col("rps")),
                "rss_first_mib": samples[0]["rss_mib"], "rss_last_mib": samples[-1]["rss_mib"],
                "rss_growth_mib": growth, "baseline_fds": base_fds, "final_fds": final_fds,
                "ok": errors == 0 and growth < 4.0 and fds_ok, "rounds": len(samples)}
    raise ValueError(kind)


def ratios(summary: dict[str, Any], base: dict[str, Any], kind: str) -> dict[str, Any]:
    if not summary or not base:
        return {}
    if kind == "throughput":
        return {"rps": _ratio(summary["rps"], base["rps"]),
                "cpu": _ratio(base["cpu_us_per_req"], summary["cpu_us_per_req"])}
    if kind in ("startup", "reload"):
        return {"time": _ratio(base["ms"], summary["ms"])}
    if kind == "idle-memory":
        key = "pss_mib" if summary.get("pss_mib") and base.get("pss_mib") else "rss_mib"
        return {"memory": _ratio(base[key], summary[key]), "by": key}
    if kind == "ws-echo":
        return {"mps": _ratio(summary["mps"], base["mps"]),
                "cpu": _ratio(base["cpu_us_per_msg"], summary["cpu_us_per_msg"])}
    if kind == "soak":
        return {"rps": _ratio(summary["rps"], base["rps"])}
    raise ValueError(kind)


def cell_result(cell: Cell, runs: dict[str, ServerRun]) -> dict[str, Any]:
    summaries = {name: summarize(run, cell.kind) for name, run in runs.items()}
    base = summaries.get(cell.baseline, {})
    servers = {}
    for name, run in runs.items():
        servers[name] = {
            "status": run.status if run.samples or run.status != "ok" else "failed",
            "note": run.note, "samples": run.samples, "info": run.info,
            "summary": summaries[name], "ratios": ratios(summaries[name], base, cell.kind),
        }
    return {"kind": cell.kind, "description": cell.description, "baseline": cell.baseline,
            "servers": servers}


# -- Markdown ----------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


_COLUMNS = {
    "throughput": ["server", "req/s", "x base", "CPU us/req", "x base", "p50 ms", "p99 ms",
                   "errors", "idle RSS/PSS MiB", "peak RSS/PSS MiB", "spread"],
    "startup": ["server", "median ms", "x base", "min ms", "max ms"],
    "idle-memory": ["server", "RSS MiB", "PSS MiB", "x base", "processes"],
    "reload": ["server", "median ms", "x base", "max ms", "failed/reload (median)",
               "failed total", "timeouts"],
    "ws-echo": ["server", "msg/s", "x base", "CPU us/msg", "x base", "p50 ms", "p99 ms",
                "errors", "spread"],
    "soak": ["server", "requests", "errors", "req/s", "x base", "RSS growth MiB",
             "fds baseline -> after", "ok"],
}


def _pair(a: float | None, b: float | None) -> str:
    return f"{_num(a, 1)} / {_num(b, 1)}"


def _row(kind: str, name: str, entry: dict[str, Any]) -> list[str]:
    s, r = entry["summary"], entry["ratios"]
    if kind == "throughput":
        return [name, _num(s["rps"]), _x(r.get("rps")), _num(s["cpu_us_per_req"]),
                _x(r.get("cpu")), _num(s["p50_ms"], 2), _num(s["p99_ms"], 2),
                str(s["errors"]), _pair(s["idle_rss_mib"], s["idle_pss_mib"]),
                _pair(s["peak_rss_mib"], s["peak_pss_mib"]), _num(s["spread_pct"], 0, "%")]
    if kind == "startup":
        return [name, _num(s["ms"]), _x(r.get("time")), _num(s["min_ms"]), _num(s["max_ms"])]
    if kind == "idle-memory":
        return [name, _num(s["rss_mib"], 1), _num(s["pss_mib"], 1), _x(r.get("memory")),
                _num(s["processes"])]
    if kind == "reload":
        return [name, _num(s["ms"]), _x(r.get("time")), _num(s["max_ms"]),
                _num(s["failed_median"], 1), str(s["failed_total"]), str(s["timeouts"])]
    if kind == "ws-echo":
        return [name, _num(s["mps"]), _x(r.get("mps")), _num(s["cpu_us_per_msg"]),
                _x(r.get("cpu")), _num(s["p50_ms"], 2), _num(s["p99_ms"], 2),
                str(s["errors"]), _num(s["spread_pct"], 0, "%")]
    if kind == "soak":
        return [name, str(s["requests"]), str(s["errors"]), _num(s["rps"]), _x(r.get("rps")),
                _num(s["rss_growth_mib"], 2), f"{s['baseline_fds']} -> {s['final_fds']}",
                "yes" if s["ok"] else "NO"]
    raise ValueError(kind)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        "# asyncdev benchmarks",
        "",
        (f"{meta['started']}, {meta['cpu_model']} ({meta['cpus']} CPUs), Python "
        f"{meta['python']}, load generator {meta['loadgen']}, "
        f"{'server on CPU 0 and load on CPU 1' if meta['pinned'] else 'not pinned'}; "
        f"{meta['rounds']} round(s) of {meta['duration']} s, medians. Load average "
        f"{meta['loadavg_before']} before, {meta['loadavg_after']} after."),
        "",
        ("Ratios are to the baseline of each cell, measured in the same run; above 1.00x is "
        "better. Absolute figures move with the machine's other load; ratios and CPU per "
        "request much less."),
    ]
    for name, cell in results["cells"].items():
        kind = cell["kind"]
        out += ["", f"## {name}", "", f"{cell['description']}. Baseline: {cell['baseline']}.",
                ""]
        columns = _COLUMNS[kind]
        out.append("| " + " | ".join(columns) + " |")
        out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|")
        notes = []
        for server, entry in cell["servers"].items():
            if entry["summary"]:
                out.append("| " + " | ".join(_row(kind, server, entry)) + " |")
            if entry["status"] != "ok":
                notes.append(f"- {server}: {entry['status']}"
                             + (f" ({entry['note']})" if entry["note"] else ""))
            elif entry["note"]:
                notes.append(f"- {server}: {entry['note']}")
        if notes:
            out += ["", *notes]
    return "\n".join(out) + "\n"


# -- chart ---------------------------------------------------------------------------------------


def chart(results: dict[str, Any], path: str) -> bool:
    """Bar chart of the main ratio of every cell; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    main_ratio = {"throughput": "rps", "startup": "time", "reload": "time",
                  "idle-memory": "memory", "ws-echo": "mps", "soak": "rps"}
    cells = [(name, cell) for name, cell in results["cells"].items()
             if any(e["ratios"].get(main_ratio[cell["kind"]]) for e in cell["servers"].values())]
    if not cells:
        return False
    fig, axes = plt.subplots(len(cells), 1, figsize=(8, 1.2 + 1.6 * len(cells)), squeeze=False)
    for ax, (name, cell) in zip(axes[:, 0], cells):
        key = main_ratio[cell["kind"]]
        bars = [(server, e["ratios"].get(key)) for server, e in cell["servers"].items()]
        bars = [(server, v) for server, v in bars if v]
        colours = ["#2a7" if server.startswith("asyncdev") else "#889" for server, _ in bars]
        ax.barh([b[0] for b in bars], [b[1] for b in bars], color=colours)
        ax.axvline(1.0, color="#333", linewidth=0.8)
        ax.invert_yaxis()
        ax.set_title(f"{name} (x {cell['baseline']}, higher is better)", fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
