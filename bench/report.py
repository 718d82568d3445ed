"""The table `make bench` prints, and `.data/bench.json` (merge-updated: keys not measured stay)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.context import Scale
from bench.harness import Metric, Result

HEADERS = ("metric", "value", "baseline", "ratio", "target", "met", "notes")


def _round(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.4g}")


def entry(metric: Metric, result: Result, scale: Scale) -> dict[str, Any]:
    """One key of bench.json: `{value, unit, baseline, ratio, target}` plus what else was measured."""
    ratio = result.value / result.baseline if result.baseline else None
    return {
        "value": _round(result.value),
        "unit": metric.unit,
        "baseline": _round(result.baseline),
        "ratio": _round(ratio),
        "target": (f"ratio {metric.target}" if metric.on_ratio else str(metric.target)) if metric.target else None,
        "met": metric.met(result),
        "note": result.note,
        **{k: _round(v) if isinstance(v, float) else v for k, v in result.extra.items()},
        "rows": scale.rows,
        # other work on the machine shows up in latencies: keep the load next to the numbers
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _num(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    return f"{x:.3g} {unit}".strip() if abs(x) < 1000 else f"{x:,.0f} {unit}".strip()


def _target(e: dict[str, Any]) -> str:
    if e["target"] is None:
        return "—"
    return f"{e['target']}×" if e["target"].startswith("ratio ") else f"{e['target']} {e['unit']}"


def render(entries: dict[str, dict[str, Any]]) -> str:
    """A plain-text table, one line per metric."""
    lines = [HEADERS]
    for key, e in entries.items():
        met = {True: "yes", False: "NO", None: "—"}[e.get("met")]
        lines.append((key, _num(e["value"], e["unit"]), _num(e["baseline"], e["unit"]),
                      "—" if e["ratio"] is None else f"{e['ratio']:.2f}×",
                      _target(e), met, e.get("note", "")))
    widths = [max(len(row[i]) for row in lines) for i in range(len(HEADERS))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def merge_write(path: Path, entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Update `path` with `entries`, keeping the keys this run did not measure; returns the whole file."""
    current: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text())
            current = loaded if isinstance(loaded, dict) else {}
        except json.JSONDecodeError:
            current = {}
    current.update(entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    # write then rename: an interrupted run never leaves a half-written file behind
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bench-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(current, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)
    return current
