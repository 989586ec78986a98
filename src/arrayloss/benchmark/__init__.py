"""``python -m arrayloss bench``: arrayloss against the hardware floor and its peers.

In one process: measure the floors (copy bandwidth, ``exp`` throughput), then time the
value and gradient of every workload with the arrayloss fast path, its generic kernel
(``ARRAYLOSS_DISABLE_FASTPATHS=1``), plain NumPy, PyTorch (CPU autograd) and jitted
JAX/optax; print a table of median times, floor ratios, speed-ups and peak memory, check
the targets of the performance issues, and append the results to
``benchmarks/results/<machine>.csv``. ``benchmarks/README.md`` explains every number.

Options: ``--workload ID`` (repeatable: C1-C8, J1, J2, G1-G4), ``--backend NAME``
(``numpy``: C1-C8; ``jax``/``torch``: J1-J2; ``cupy``: G1-G4), ``--impl LABEL``
(repeatable: only these implementations), ``--quick`` (smaller sizes, fewer repeats:
under 3 minutes on a 2-core machine), ``--output PATH`` (the CSV file), ``--no-csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import _cpu, _gpu
from ._cases import Case, Impl, missing_modules
from ._floors import Floors, measure_cpu_floors
from ._report import Row, append_csv, machine_name, print_checks, print_table, target_checks
from ._timing import Budget, cuda_timer, measure, peak_memory

__all__ = ["main"]

BUDGETS = {
    "full": Budget(min_repeats=5, max_repeats=30, min_seconds=1.0),
    "quick": Budget(min_repeats=3, max_repeats=5, min_seconds=0.1),
    "tiny": Budget(min_repeats=2, max_repeats=2, min_seconds=0.0),
}

BACKENDS = {"numpy": "C", "jax": "J", "torch": "J", "cupy": "G"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m arrayloss bench",
        description="Benchmark arrayloss against the hardware floor, NumPy, PyTorch and JAX.",
    )
    parser.add_argument(
        "--workload",
        action="append",
        metavar="ID",
        help="run only this workload (C1-C8, J1, J2, G1-G4); repeatable",
    )
    parser.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
        help="only the workloads measuring arrayloss on this backend",
    )
    parser.add_argument(
        "--impl",
        action="append",
        metavar="LABEL",
        help="time only these implementations (fast, generic, numpy, torch, jax, al-jax, "
        "al-torch, cupy-fast, ...); repeatable",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes and fewer repeats (under 3 minutes)"
    )
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="CSV file to append to (default benchmarks/results/<machine>.csv)",
    )
    parser.add_argument("--no-csv", action="store_true", help="do not write the CSV file")
    return parser  # fmt: skip


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _fastpaths(enabled: bool) -> Iterator[None]:
    key = "ARRAYLOSS_DISABLE_FASTPATHS"
    before = os.environ.get(key)
    if not enabled:
        os.environ[key] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _select(cases: list[Case], workloads: list[str] | None, backend: str | None) -> list[Case]:
    if workloads:
        wanted = {w.upper() for w in workloads}
        known = {c.workload for c in cases} | set(_gpu.WORKLOADS)
        unknown = wanted - known
        if unknown:
            raise SystemExit(
                f"unknown workload(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        cases = [c for c in cases if c.workload in wanted]
    if backend:
        cases = [c for c in cases if c.workload.startswith(BACKENDS[backend])]
    return cases


def _sync(kind: str) -> Callable[[Any], None]:
    if kind == "jax":
        import jax

        return jax.block_until_ready
    if kind == "torch-cuda":
        import torch

        return lambda result: torch.cuda.synchronize()
    return lambda result: None


def _run_impl(case: Case, impl: Impl, budget: Budget, floors: Floors) -> Row:
    floor, kind = floors.floor(case.bytes_moved, case.exps)
    missing = missing_modules(impl.requires)
    if missing:
        why = f"{', '.join(missing)} not installed"
        return Row(case, impl.label, None, None, floor, kind, why, floors)
    try:
        with _fastpaths(impl.fastpaths):
            run = impl.build(case.inputs())
            timer = cuda_timer if impl.sync == "cuda" else None
            timing = measure(run, budget, sync=_sync(impl.sync), timer=timer, batch=case.batch)
            peak = peak_memory(run, impl.memory)
            del run
    except Exception as exc:  # a peer that fails is reported, the others still run
        message = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
        return Row(case, impl.label, None, None, floor, kind, message, floors)
    return Row(case, impl.label, timing, peak, floor, kind, None, floors)


def _available_losses() -> set[str]:
    import arrayloss as al

    return set(al.registry())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the process exit status."""
    args = _parser().parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    budget = BUDGETS[mode]
    gpu = _gpu.gpu_name()
    cases = _cpu.cpu_cases(mode)
    wants_gpu = not args.backend or args.backend == "cupy"
    if gpu is not None:
        cases += _gpu.gpu_cases(mode)
    elif wants_gpu and (not args.workload or any(w.upper().startswith("G") for w in args.workload)):
        _say("GPU workloads G1-G4 skipped: no CUDA device usable by CuPy")
    cases = _select(cases, args.workload, args.backend)
    if not cases:
        _say("no workload selected")
        return 1

    started = time.perf_counter()
    _say(f"measuring the floors ({mode} mode) ...")
    floors = measure_cpu_floors(16 << 20, 4 << 20) if mode == "tiny" else measure_cpu_floors()
    gpu_floors: Floors | None = _gpu.measure_floors() if gpu and any(c.workload.startswith("G") for c in cases) else None  # fmt: skip
    _say(
        f"  copy bandwidth {floors.copy_bandwidth / 1e9:.1f} GB/s (into a fresh array "
        f"{floors.fresh_copy_bandwidth / 1e9:.1f} GB/s), exp {floors.exp_rate / 1e9:.2f} G float32/s"
    )
    if gpu_floors is not None:
        _say(f"  {gpu_floors.device}: copy {gpu_floors.copy_bandwidth / 1e9:.0f} GB/s, "
             f"exp {gpu_floors.exp_rate / 1e9:.0f} G float32/s")  # fmt: skip
    have = _available_losses()
    rows: list[Row] = []
    for case in cases:
        absent = [loss for loss in case.losses if loss not in have]
        if absent:
            _say(f"{case.workload} {case.name}: skipped, {', '.join(absent)} not implemented yet")
            continue
        use = gpu_floors if case.workload.startswith("G") and gpu_floors else floors
        for impl in case.impls:
            if args.impl and impl.label not in args.impl:
                continue
            row = _run_impl(case, impl, budget, use)
            rows.append(row)
            shown = f"{row.median * 1e3:.3f} ms" if row.median else f"skipped ({row.skipped})"
            _say(f"  {case.workload} {case.name:<34} {impl.label:<9} {shown}")
        case.release()

    threads = _threads()
    title = (f"arrayloss benchmark ({mode}) on {machine_name(gpu)}: copy "
             f"{floors.copy_bandwidth / 1e9:.1f} GB/s, exp {floors.exp_rate / 1e9:.2f} G/s, "
             f"{threads} fast-path threads")  # fmt: skip
    print_table(rows, title)
    print_checks(target_checks(rows))
    _say(f"benchmark took {time.perf_counter() - started:.0f} s")
    if not args.no_csv:
        path = args.output or Path("benchmarks") / "results" / f"{machine_name(gpu)}.csv"
        written = append_csv(path, rows, machine=machine_name(gpu), gpu=gpu, mode=mode,
                             threads=threads)  # fmt: skip
        _say(f"results appended to {written}")
    return 0


def _threads() -> int:
    from ..fast._chunks import thread_count

    return thread_count()
