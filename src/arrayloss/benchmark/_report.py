"""Results: one row per (case, implementation); the table, the targets, the CSV file.

Ratios: ``x floor`` is the median time over the case's floor (1.0 = at the hardware
limit); ``ours faster`` on a peer's row is that peer's median over the median of the
arrayloss implementation it is compared with (2.0 = arrayloss takes half the time).
"""

from __future__ import annotations

import csv
import datetime
import importlib.metadata
import os
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._cases import Case
from ._floors import Floors
from ._timing import Timing

__all__ = ["Row", "append_csv", "machine_name", "print_table", "target_checks", "versions"]

OURS = ("fast", "generic", "al-jax", "al-torch", "cupy-fast", "cupy-generic")


@dataclass
class Row:
    case: Case
    impl: str
    timing: Timing | None
    peak: int | None
    floor: float
    floor_kind: str
    skipped: str | None = None
    floors: Floors | None = None

    @property
    def median(self) -> float | None:
        return None if self.timing is None else self.timing.median

    @property
    def x_floor(self) -> float | None:
        m = self.median
        return None if m is None or self.floor <= 0 else m / self.floor


def ours_speedup(rows: list[Row], row: Row) -> float | None:
    """Peer median over the median of the arrayloss implementation it is compared with."""
    if row.impl in OURS or row.median is None:
        return None
    ours = row.case.ours_for(row.impl)
    for other in rows:
        if other.case is row.case and other.impl == ours and other.median:
            return row.median / other.median
    return None


# ------------------------------------------------------------------ context


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("arrayloss", "numpy", "torch", "jax", "optax", "cupy", "cupy-cuda12x"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if "cupy-cuda12x" in found:
        found["cupy"] = found.pop("cupy-cuda12x")
    return found


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name(gpu: str | None) -> str:
    """``ARRAYLOSS_BENCH_MACHINE``, else ``<cpu model>-<n>cpu[-<gpu>]`` made file-safe."""
    given = os.environ.get("ARRAYLOSS_BENCH_MACHINE", "").strip()
    if given:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", given)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    name = f"{cpu_model()}-{cpus}cpu" + (f"-{gpu}" if gpu else "")
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


# -------------------------------------------------------------------- table


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:.3f}" if x < 0.01 else f"{x * 1e3:.1f}"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _mb(row: Row) -> str:
    if row.peak is None:
        return "-"
    text = f"{row.peak / 2**20:.1f}"
    if row.case.input_bytes:
        text += f" ({row.peak / row.case.input_bytes:.2f}x in)"
    return text


def table_rows(rows: list[Row]) -> list[list[str]]:
    out = []
    for row in rows:
        if row.skipped:
            out.append([row.case.workload, row.case.name, row.impl, "skipped: " + row.skipped,
                        "", "", "", ""])  # fmt: skip
            continue
        t = row.timing
        assert t is not None
        spread = f"{_ms(t.percentile(0.2))}-{_ms(t.percentile(0.8))}"
        out.append([row.case.workload, row.case.name, row.impl, _ms(t.median), spread,
                    _ratio(row.x_floor), _ratio(ours_speedup(rows, row)), _mb(row)])  # fmt: skip
    return out


HEADER = [
    "workload",
    "case",
    "impl",
    "median ms",
    "p20-p80 ms",
    "x floor",
    "ours faster",
    "peak MB",
]


def print_table(rows: list[Row], title: str, file: Any = None) -> None:
    """A rich table when rich is installed, else aligned plain text."""
    file = file or sys.stdout
    body = table_rows(rows)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _plain(title, HEADER, body, file)
        return
    table = Table(title=title)
    for i, name in enumerate(HEADER):
        table.add_column(name, justify="left" if i < 3 else "right")
    last = None
    for line, row in zip(body, rows, strict=True):
        if last is not None and row.case is not last:
            table.add_section()
        last = row.case
        table.add_row(*line)
    Console(file=file, width=max(140, Console(file=file).width)).print(table)


def print_checks(checks: list[tuple[str, str, str]], file: Any = None) -> None:
    file = file or sys.stdout
    header = ["target", "measured", "status"]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _plain("targets", header, [list(c) for c in checks], file)
        return
    table = Table(title="targets (issue 7 and issue 6)")
    for name in header:
        table.add_column(name)
    for target, measured, status in checks:
        style = {"met": "green", "NOT met": "red"}.get(status, "yellow")
        table.add_row(target, measured, f"[{style}]{status}[/{style}]")
    Console(file=file, width=max(140, Console(file=file).width)).print(table)


def _plain(title: str, header: list[str], body: list[list[str]], file: Any) -> None:
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    print(title, file=file)
    for line in [header, *body]:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)), file=file)


# ------------------------------------------------------------------ targets


def _find(rows: list[Row], workload: str, name_part: str, impl: str) -> Row | None:
    for row in rows:
        if (
            row.case.workload == workload
            and name_part in row.case.name
            and row.impl == impl
            and row.timing is not None
        ):
            return row
    return None


def _ratio_check(a: Row | None, b: Row | None, limit: float, what: str) -> tuple[str, str, str]:
    """``a.median / b.median <= limit``."""
    if a is None or b is None or not a.median or not b.median:
        return what, "not measured", "n/a"
    r = a.median / b.median
    return what, f"{r:.2f}x", "met" if r <= limit else "NOT met"


def target_checks(rows: list[Row]) -> list[tuple[str, str, str]]:
    """The issue's targets, each as (target, measured, met / NOT met / n/a)."""
    checks = []
    mse = _find(rows, "C1", "mse", "fast")
    if mse is not None:
        x = mse.x_floor or 0.0
        checks.append(
            ("C1 mse: <= 2.5x bandwidth floor", f"{x:.2f}x", "met" if x <= 2.5 else "NOT met")
        )
    checks.append(
        _ratio_check(
            mse,
            _find(rows, "C1", "mse", "torch"),
            1 / 3,
            "C1 mse: >= 3x faster than PyTorch (time ratio <= 0.33)",
        )
    )
    ce = _find(rows, "C4", "x32000", "fast")
    if ce is not None:
        x = ce.x_floor or 0.0
        checks.append(
            (f"C4 {ce.case.name}: <= 2.0x exp floor", f"{x:.2f}x", "met" if x <= 2.0 else "NOT met")
        )
        if ce.peak is not None and ce.case.input_bytes:
            r = ce.peak / ce.case.input_bytes
            checks.append(
                (
                    "C4 CE: peak extra memory <= 1.25x logits",
                    f"{r:.2f}x",
                    "met" if r <= 1.25 else "NOT met",
                )
            )
    checks.append(
        _ratio_check(
            ce,
            _find(rows, "C4", "x32000", "jax"),
            1 / 1.8,
            "C4 CE: >= 1.8x faster than jitted optax (time ratio <= 0.56)",
        )
    )
    checks.append(
        _ratio_check(
            ce,
            _find(rows, "C4", "x32000", "torch"),
            1 / 4,
            "C4 CE: >= 4x faster than PyTorch (time ratio <= 0.25)",
        )
    )
    small = _find(rows, "C2", "small", "fast")
    checks.append(
        _ratio_check(
            small,
            _find(rows, "C2", "small", "numpy"),
            2.0,
            "C2 small call: <= 2x hand-written NumPy",
        )
    )
    over, slower = [], []
    for row in rows:
        if (
            row.impl != "fast"
            or row.timing is None
            or row.case.workload not in ("C3", "C5", "C6", "C7", "C8", "C1", "C4")
        ):
            continue
        if row is mse or row is ce:
            continue
        if (row.x_floor or 0) > 2.5:
            over.append(f"{row.case.name} {row.x_floor:.2f}x")
        for peer in ("torch", "jax"):
            other = _find(rows, row.case.workload, row.case.name, peer)
            if other is not None and other.median and row.median and other.median <= row.median:
                slower.append(f"{row.case.name} vs {peer} {other.median / row.median:.2f}")
    if any(r.impl == "fast" for r in rows):
        checks.append(
            (
                "other CPU workloads: <= 2.5x floor",
                "; ".join(over) or "all within",
                "NOT met" if over else "met",
            )
        )
    peers_ran = any(r.impl in ("torch", "jax") and r.timing for r in rows)
    if any(r.impl == "fast" for r in rows) and peers_ran:
        checks.append(
            (
                "other CPU workloads: faster than PyTorch and optax",
                "; ".join(slower) or "all faster",
                "NOT met" if slower else "met",
            )
        )
    for workload, label in (("J1", "mse"), ("J2", "cross_entropy")):
        for ours, peer in (("al-jax", "jax"), ("al-torch", "torch")):
            a, b = _find(rows, workload, label, ours), _find(rows, workload, label, peer)
            if a is not None or b is not None:
                checks.append(
                    _ratio_check(a, b, 1.15, f"{workload} {label}: {ours} <= 1.15x {peer}")
                )
    checks += _gpu_checks(rows)
    return [c for c in checks if c[2] != "n/a" or c[1] != "not measured"]  # fmt: skip


def _gpu_checks(rows: list[Row]) -> list[tuple[str, str, str]]:
    checks = []
    for row in rows:
        if row.case.workload == "G1" and row.impl == "cupy-fast" and row.x_floor:
            pct = 100 / row.x_floor
            checks.append((f"G1 {row.case.name}: >= 75% of copy bandwidth", f"{pct:.0f}%", "met" if pct >= 75 else "NOT met"))  # fmt: skip
        if row.case.workload == "G2" and row.impl == "cupy-fast" and row.median:
            ms = row.median * 1e3
            checks.append((f"G2 {row.case.name}: <= 8.5 ms (H100)", f"{ms:.2f} ms", "met" if ms <= 8.5 else "NOT met"))  # fmt: skip
            x = row.x_floor or 0.0
            checks.append((f"G2 {row.case.name}: <= 1.5x two-pass floor", f"{x:.2f}x", "met" if x <= 1.5 else "NOT met"))  # fmt: skip
    return checks


# ---------------------------------------------------------------------- CSV

FIELDS = [
    "timestamp", "machine", "cpu", "gpu", "mode", "versions", "threads", "workload", "case",
    "impl", "dtype", "elements", "median_s", "p20_s", "p80_s", "repeats", "first_call_s",
    "floor_s", "floor_kind", "x_floor", "compared_with", "ours_speedup", "peak_bytes",
    "input_bytes", "copy_bandwidth", "fresh_copy_bandwidth", "exp_rate", "skipped",
]  # fmt: skip


def append_csv(
    path: Path, rows: list[Row], *, machine: str, gpu: str | None, mode: str, threads: int
) -> Path:
    """Append one line per row to ``path`` (created with a header if new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
        if header != FIELDS:
            path = path.with_name(path.stem + "-" + datetime.date.today().isoformat() + path.suffix)
    new = not path.exists()
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text_versions = " ".join(f"{k}={v}" for k, v in versions().items())
    with path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        for row in rows:
            t = row.timing
            floors = row.floors
            writer.writerow({
                "timestamp": stamp, "machine": machine, "cpu": cpu_model(), "gpu": gpu or "",
                "mode": mode, "versions": text_versions, "threads": threads,
                "workload": row.case.workload, "case": row.case.name, "impl": row.impl,
                "dtype": row.case.dtype, "elements": row.case.elements,
                "median_s": _g(row.median), "p20_s": _g(t.percentile(0.2) if t else None),
                "p80_s": _g(t.percentile(0.8) if t else None), "repeats": len(t.samples) if t else "",
                "first_call_s": _g(t.first if t else None), "floor_s": _g(row.floor),
                "floor_kind": row.floor_kind, "x_floor": _g(row.x_floor),
                "compared_with": "" if row.impl in OURS else row.case.ours_for(row.impl),
                "ours_speedup": _g(ours_speedup(rows, row)),
                "peak_bytes": "" if row.peak is None else row.peak,
                "input_bytes": row.case.input_bytes,
                "copy_bandwidth": _g(floors.copy_bandwidth if floors else None),
                "fresh_copy_bandwidth": _g(floors.fresh_copy_bandwidth if floors else None),
                "exp_rate": _g(floors.exp_rate if floors else None), "skipped": row.skipped or "",
            })  # fmt: skip
    return path


def _g(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"
