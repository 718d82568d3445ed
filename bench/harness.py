"""Metrics as small registered functions, and the numbers they return."""

from __future__ import annotations

import gc
import operator
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bench.context import Bench

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}


@dataclass(frozen=True)
class Target:
    """A bound a value must meet, e.g. `<= 50`."""

    op: str
    bound: float

    @classmethod
    def parse(cls, spec: str) -> Target:
        m = re.fullmatch(r"\s*(<=|<|>=|>)\s*([0-9.]+)\s*", spec)
        if m is None:
            raise ValueError(f"a target looks like '<= 50', not {spec!r}")
        return cls(m[1], float(m[2]))

    def met(self, value: float) -> bool:
        return _OPS[self.op](value, self.bound)

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass
class Result:
    """What a metric measured: its value, the baseline from the same run, a short note for the
    printout and further numbers kept in bench.json."""

    value: float
    baseline: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    key: str
    unit: str
    target: Target | None
    about: str
    run: Callable[[Bench], Awaitable[Result]]
    on_ratio: bool = False  # the target bounds value / baseline, not the value

    def met(self, result: Result) -> bool | None:
        if self.target is None:
            return None
        if self.on_ratio:
            return self.target.met(result.value / result.baseline) if result.baseline else False
        return self.target.met(result.value)


METRICS: list[Metric] = []


def metric(key: str, *, unit: str, target: str | None, on_ratio: bool = False) -> Callable[[Callable[[Bench], Awaitable[Result]]],
                                                                 Callable[[Bench], Awaitable[Result]]]:
    """Register `fn(bench) -> Result` as the metric `key` (its docstring says what it measures); with
    `on_ratio` the target bounds the value against its baseline."""

    def register(fn: Callable[[Bench], Awaitable[Result]]) -> Callable[[Bench], Awaitable[Result]]:
        if any(m.key == key for m in METRICS):
            raise ValueError(f"metric {key} is registered twice")
        about = " ".join((fn.__doc__ or key).split())
        METRICS.append(Metric(key, unit, Target.parse(target) if target else None, about, fn, on_ratio))
        return fn

    return register


def pct(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) of the samples, linearly interpolated."""
    return float(np.percentile(np.asarray(samples, dtype=float), q))


async def interleaved(calls: dict[str, Callable[[], Awaitable[Any]]], *, n: int,
                      warmup: int) -> dict[str, list[float]]:
    """Milliseconds of `n` calls of each callable, taken in turns (call A, call B, …, rotating who goes
    first) so that a change of load on the machine falls on all of them alike; after `warmup` rounds."""
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            await calls[name]()
    # The bench's own large fixtures would otherwise be walked by full collections inside the timed calls.
    gc.collect()
    gc.freeze()
    out: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        for name in names[i % len(names):] + names[:i % len(names)]:
            start = time.perf_counter()
            await calls[name]()
            out[name].append((time.perf_counter() - start) * 1000)
    return out
