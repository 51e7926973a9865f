"""Shared helpers for the benchmarks: percentiles, a figure beside its target, the exit code.

Benchmarks print every figure beside its target and exit non-zero when one is
missed; they are run by hand (``make bench``), never as timed tests.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of ``samples``."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def time_calls(fn: Callable[[object], object], args: Sequence[object]) -> list[float]:
    """Call ``fn(arg)`` for every arg; return the durations in milliseconds."""
    out = []
    clock = time.perf_counter
    for arg in args:
        t0 = clock()
        fn(arg)
        out.append((clock() - t0) * 1000)
    return out


@dataclass
class Report:
    """Collects figures, prints each beside its target, and gives the exit code."""

    missed: list[str] = field(default_factory=list)

    def at_most(self, name: str, value: float, target: float, unit: str, *,
                digits: int = 2) -> bool:
        ok = value <= target
        self._line(name, value, f"<= {target:g} {unit}", unit, ok, digits)
        return ok

    def at_least(self, name: str, value: float, target: float, unit: str, *,
                 digits: int = 0) -> bool:
        ok = value >= target
        self._line(name, value, f">= {target:,.0f} {unit}".replace(",", " "), unit, ok, digits)
        return ok

    def info(self, name: str, value: float, unit: str, *, digits: int = 2) -> None:
        figure = f"{value:,.{digits}f}".replace(",", " ")
        print(f"{name:<40} {figure:>12} {unit}", flush=True)

    def _line(self, name: str, value: float, target: str, unit: str, ok: bool,
              digits: int) -> None:
        figure = f"{value:,.{digits}f}".replace(",", " ")
        print(f"{name:<40} {figure:>12} {unit:<7} (target {target})  {'OK' if ok else 'MISS'}",
              flush=True)
        if not ok:
            self.missed.append(name)

    def exit_code(self) -> int:
        if self.missed:
            print(f"MISSED: {', '.join(self.missed)}", flush=True)
            return 1
        print("All targets met.", flush=True)
        return 0


def cache_parser(description: str) -> argparse.ArgumentParser:
    """The options every bench on a big demo cache takes: --sales, --seed, --dir."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sales", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "alamara-bench")
    return parser


def print_load() -> None:
    """Figures are wall-clock: say how busy the machine was."""
    print(f"load average before the run: {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} CPUs (figures are wall-clock)")
