"""Every registered NumPy fast path agrees with the generic kernel (fast paths off), on
random and edge inputs, for each reduction, dtype, ``wrt`` and ``"none"`` cotangent;
the CuPy kernels likewise on a GPU; and the benchmark runs end to end on tiny sizes.

The chunk sizes are shrunk and two threads forced, so that even these small inputs
cross chunk boundaries and run on the thread pool. Inputs are read-only throughout.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import arrayloss as al
from arrayloss import fast
from arrayloss._spec import get_spec
from arrayloss.fast import _chunks

from _helpers import RTOL32, assert_close

Inputs = tuple[tuple[np.ndarray, ...], dict[str, Any]]

#: ARRAYLOSS_TEST_SEED varies the random inputs (a stress loop over seeds).
SEED = int(os.environ.get("ARRAYLOSS_TEST_SEED", "0"))

RTOL = {np.float32: RTOL32, np.float64: 1e-12}
# Fast paths of other modules, with tests of their own (test_large_vocab.py).
OWNED_ELSEWHERE = {"chunked_cross_entropy", "linear_cross_entropy"}


def _rng(*key: Any) -> np.random.Generator:
    # crc32, not hash(): string hashes change from one process to the next
    return np.random.default_rng([zlib.crc32(repr(key).encode()), SEED])


def _pair(
    dtype: Any, shape: tuple[int, ...] = (37, 11), low: float | None = None
) -> tuple[np.ndarray, ...]:
    rng = _rng("pair", shape)
    if low is None:
        return rng.normal(0, 2, shape).astype(dtype), rng.normal(0, 2, shape).astype(dtype)
    return rng.uniform(low, 4, shape).astype(dtype), rng.uniform(low, 4, shape).astype(dtype)


def _probs(dtype: Any, shape: tuple[int, ...] = (37, 11)) -> tuple[np.ndarray, ...]:
    rng = _rng("probs", shape)
    return (
        rng.uniform(0.01, 0.99, shape).astype(dtype),
        rng.choice([0.0, 1.0, 0.3], size=shape).astype(dtype),
    )


def _logits(dtype: Any, shape: tuple[int, ...] = (37, 11)) -> tuple[np.ndarray, ...]:
    rng = _rng("logits", shape)
    return rng.normal(0, 3, shape).astype(dtype), rng.choice([0.0, 1.0, 0.25], size=shape).astype(
        dtype
    )


def _binary(dtype: Any, shape: tuple[int, ...] = (37, 11)) -> tuple[np.ndarray, ...]:
    rng = _rng("binary", shape)
    return rng.normal(0, 4, shape).astype(dtype), rng.choice([0.0, 1.0], size=shape).astype(dtype)


def _classes(dtype: Any, rows: int = 41, n: int = 7) -> tuple[np.ndarray, ...]:
    rng = _rng("classes", rows, n)
    return rng.normal(0, 3, (rows, n)).astype(dtype), rng.integers(0, n, rows)


def _kl(dtype: Any) -> tuple[np.ndarray, ...]:
    rng = _rng("kl")
    q = rng.normal(0, 1, (23, 9))
    q -= np.log(np.exp(q).sum(axis=1, keepdims=True))
    p = rng.uniform(0, 1, (23, 9))
    p[0, 0] = 0.0
    p /= p.sum(axis=1, keepdims=True)
    return q.astype(dtype), p.astype(dtype)


def _segmentation(dtype: Any) -> tuple[np.ndarray, ...]:
    rng = _rng("seg")
    x = rng.normal(0, 1, (5, 3, 6, 4))
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, (5, 6, 4))
    onehot = (labels[:, None] == np.arange(3).reshape(1, 3, 1, 1)).astype(dtype)
    return p.astype(dtype), onehot


def _triplets(dtype: Any) -> tuple[np.ndarray, ...]:
    rng = _rng("triplet")
    return tuple(rng.normal(0, 1, (29, 6)).astype(dtype) for _ in range(3))


# loss -> list of (case name, maker(dtype) -> (arrays, options))
MAKERS: dict[str, list[tuple[str, Callable[[Any], Inputs]]]] = {
    "mse": [("plain", lambda d: (_pair(d), {})), ("broadcast", lambda d: ((_pair(d)[0], _pair(d)[1][:1]), {}))],
    "mae": [("plain", lambda d: (_pair(d), {})), ("ties", lambda d: ((_pair(d)[0], _pair(d)[0].copy()), {}))],
    "huber": [("plain", lambda d: (_pair(d), {"delta": 0.7}))],
    "smooth_l1": [("plain", lambda d: (_pair(d), {"beta": 0.5})), ("beta0", lambda d: (_pair(d), {"beta": 0.0}))],
    "rmse": [("plain", lambda d: (_pair(d), {}))],
    "log_cosh": [("plain", lambda d: (_pair(d), {}))],
    "msle": [("plain", lambda d: (_pair(d, low=0.0), {}))],
    "mape": [("plain", lambda d: (_pair(d), {}))],
    "quantile": [("plain", lambda d: (_pair(d), {"q": 0.3}))],
    "poisson_nll": [("plain", lambda d: (_pair(d, low=0.1), {"log_input": False, "full": True}))],
    "gaussian_nll": [("plain", lambda d: ((*_pair(d), _pair(d, low=0.1)[0]), {}))],
    "tweedie_deviance": [("plain", lambda d: (_pair(d, low=0.1), {"power": 1.5}))],
    "binary_cross_entropy": [("plain", lambda d: (_probs(d), {}))],
    "binary_cross_entropy_with_logits": [
        ("plain", lambda d: (_logits(d), {})),
        ("pos_weight", lambda d: (_logits(d), {"pos_weight": np.linspace(0.5, 3, 11).astype(d)})),
    ],
    "sigmoid_focal_loss": [
        ("binary", lambda d: (_binary(d), {})),
        ("binary gamma", lambda d: (_binary(d), {"gamma": 0.5, "alpha": -1})),
        ("binary gamma 0", lambda d: (_binary(d), {"gamma": 0.0, "alpha": 0.7})),
        ("soft", lambda d: (_logits(d), {})),
        ("soft gamma", lambda d: (_logits(d), {"gamma": 0.5, "alpha": -1})),
    ],
    "cross_entropy": [
        ("plain", lambda d: (_classes(d), {})),
        ("many classes", lambda d: (_classes(d, 9, 300), {})),
        ("options", lambda d: (_classes(d), {"weight": np.linspace(0.5, 2, 7).astype(d), "ignore_index": 2, "temperature": 1.7})),
        ("smoothing", lambda d: (_classes(d), {"label_smoothing": 0.1})),
        ("axis 1", lambda d: ((_classes(d, 40, 5)[0].reshape(8, 5, 5), _classes(d, 40, 5)[1].reshape(8, 5)), {"axis": 1})),
    ],
    "kl_div": [
        ("plain", lambda d: (_kl(d), {})),
        ("batchmean", lambda d: (_kl(d), {"batchmean": True})),
        ("log_target", lambda d: ((_kl(d)[0], np.log(_kl(d)[1] + 0.1).astype(d)), {"log_target": True})),
    ],
    "dice": [("plain", lambda d: (_segmentation(d), {"axis": 1}))],
    "jaccard": [("plain", lambda d: (_segmentation(d), {"axis": 1}))],
    "tversky": [("plain", lambda d: (_segmentation(d), {"axis": 1, "alpha": 0.3, "beta": 0.7, "gamma": 1.5}))],
    "triplet_margin": [("plain", lambda d: (_triplets(d), {})), ("swap", lambda d: (_triplets(d), {"swap": True}))],
}  # fmt: skip

EDGE_VALUES = (np.nan, np.inf, -np.inf, 100.0, -100.0, 0.0)


def _numpy_paths() -> list[str]:
    return sorted(name for name, backend in fast.registered() if backend == "numpy")


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny chunks and a forced pool of two threads, so small inputs exercise both."""
    from arrayloss.fast import numpy_regression, numpy_rows, numpy_softmax

    monkeypatch.setattr(_chunks, "PARALLEL_MIN_ELEMENTS", 0)
    monkeypatch.setattr(numpy_regression, "ELEMENTWISE_CHUNK", 64)
    monkeypatch.setattr(numpy_softmax, "ROW_CHUNK_BYTES", 256)
    monkeypatch.setattr(numpy_rows, "ROW_CHUNK_BYTES", 96)
    monkeypatch.setenv("ARRAYLOSS_NUM_THREADS", "2")


def _readonly(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    out = []
    for a in arrays:
        a = np.array(a)
        a.flags.writeable = False
        out.append(a)
    return tuple(out)


def _both(
    monkeypatch: pytest.MonkeyPatch,
    fn: Any,
    wrt: Any,
    arrays: Any,
    options: dict[str, Any],
    cotangent: Any = None,
) -> tuple[Any, Any]:
    """(generic, fast) results of value, gradients and plain value."""
    results = []
    for disabled in ("1", "0"):
        monkeypatch.setenv("ARRAYLOSS_DISABLE_FASTPATHS", disabled)
        with np.errstate(all="ignore"):
            value, grads = al.value_and_grad(fn, wrt=wrt)(*arrays, cotangent=cotangent, **options)
            plain = fn(*arrays, **options)
        results.append((value, grads, plain))
    return results[0], results[1]


def _check(generic: Any, fastpath: Any, dtype: Any) -> None:
    rtol = RTOL[dtype]
    for g, f in zip(generic, fastpath, strict=True):
        assert_close(f, g, rtol=rtol, atol=rtol * 1e-30)
        for a, b in zip(
            g if isinstance(g, tuple) else (g,), f if isinstance(f, tuple) else (f,), strict=True
        ):
            assert np.asarray(a).dtype == np.asarray(b).dtype


def test_every_numpy_fast_path_has_inputs_here() -> None:
    missing = [n for n in _numpy_paths() if n not in MAKERS and n not in OWNED_ELSEWHERE]
    assert not missing, f"add input makers to tests/test_fastpaths.py for {missing}"


CASES = [(loss, case, maker) for loss, makers in MAKERS.items() for case, maker in makers]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("loss", "case", "maker"), CASES, ids=[f"{loss}-{case}" for loss, case, _ in CASES]
)
def test_fast_path_matches_generic_kernel(
    monkeypatch: pytest.MonkeyPatch, loss: str, case: str, maker: Any, reduction: str, dtype: Any
) -> None:
    fn = getattr(al, loss)
    arrays, options = maker(dtype)
    arrays = _readonly(arrays)
    options = {**options, "reduction": reduction}
    if options.pop("batchmean", False) and reduction == "mean":
        options["reduction"] = "batchmean"
    wrt = get_spec(fn).wrt
    if loss == "cross_entropy" or (loss in ("dice", "jaccard", "tversky") and case == "plain"):
        wrt = wrt[:1]
    cotangent = None
    if reduction == "none":
        shape = np.shape(fn(*arrays, **options))
        cotangent = _rng("cot", loss).normal(size=shape).astype(dtype)
    generic, fastpath = _both(monkeypatch, fn, tuple(wrt), arrays, options, cotangent)
    _check(generic, fastpath, dtype)


@pytest.mark.parametrize("loss", sorted(MAKERS))
def test_fast_path_runs_on_plain_inputs(monkeypatch: pytest.MonkeyPatch, loss: str) -> None:
    """The plain case is covered by the fast path itself, not its generic fallback."""
    fn = getattr(al, loss)
    arrays, options = MAKERS[loss][0][1](np.float32)
    problem = fn.__arrayloss_prepare__(*_readonly(arrays), **options)
    path = fast.lookup(problem)
    assert path is not None
    result = path(problem, get_spec(fn).wrt[:1], None)
    assert result is not NotImplemented


@pytest.mark.parametrize("edge", EDGE_VALUES)
@pytest.mark.parametrize(
    "loss",
    [
        "mse",
        "mae",
        "huber",
        "smooth_l1",
        "log_cosh",
        "binary_cross_entropy_with_logits",
        "sigmoid_focal_loss",
        "triplet_margin",
    ],
)
def test_fast_path_matches_generic_kernel_at_edge_values(
    monkeypatch: pytest.MonkeyPatch, loss: str, edge: float
) -> None:
    fn = getattr(al, loss)
    arrays, options = MAKERS[loss][0][1](np.float64)
    first = np.array(arrays[0])
    first.reshape(-1)[::5] = edge
    arrays = _readonly((first, *arrays[1:]))
    for reduction in ("mean", "none"):
        generic, fastpath = _both(
            monkeypatch, fn, get_spec(fn).wrt[:1], arrays, {**options, "reduction": reduction}
        )
        _check(generic, fastpath, np.float64)


@pytest.mark.parametrize("edge", EDGE_VALUES)
@pytest.mark.parametrize(
    "options", [{}, {"ignore_index": 0}, {"temperature": 0.5, "weight": np.linspace(1, 2, 7)}]
)
def test_cross_entropy_fast_path_matches_generic_kernel_at_edge_logits(
    monkeypatch: pytest.MonkeyPatch, edge: float, options: dict[str, Any]
) -> None:
    logits, target = _classes(np.float64)
    logits = logits.copy()
    logits[::3, 2] = edge
    logits[1, :] = edge  # a whole row at the edge value
    for reduction in ("mean", "sum", "none"):
        generic, fastpath = _both(
            monkeypatch,
            al.cross_entropy,
            "logits",
            _readonly((logits, target)),
            {**options, "reduction": reduction},
        )
        _check(generic, fastpath, np.float64)


@pytest.mark.parametrize("temperature", [1.0, 0.3, 1.7])
def test_cross_entropy_fast_path_matches_generic_kernel_on_confident_rows(
    monkeypatch: pytest.MonkeyPatch, temperature: float
) -> None:
    """Losses of e^-100 and gradients p_y - 1 of that size: only the same operations agree."""
    logits, target = _classes(np.float64)
    logits = logits + 100.0 * (np.arange(7) == target[:, None])
    logits[::2] *= 0.2
    for reduction in ("none", "mean"):
        generic, fastpath = _both(
            monkeypatch,
            al.cross_entropy,
            "logits",
            _readonly((logits, target)),
            {"temperature": temperature, "reduction": reduction},
        )
        _check(generic, fastpath, np.float64)


def test_cross_entropy_fast_path_all_ignored_is_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    logits, _ = _classes(np.float32)
    target = np.full(logits.shape[0], -100)
    generic, fastpath = _both(monkeypatch, al.cross_entropy, "logits", (logits, target), {})
    _check(generic, fastpath, np.float32)
    assert np.isnan(fastpath[0])
    assert not np.any(fastpath[1])


@pytest.mark.parametrize("loss", ["mse", "huber", "cross_entropy", "kl_div"])
def test_fast_path_with_weight_and_mask_matches_generic_kernel(
    monkeypatch: pytest.MonkeyPatch, loss: str
) -> None:
    fn = getattr(al, loss)
    arrays, options = MAKERS[loss][0][1](np.float64)
    shape = np.shape(fn(*arrays, **options, reduction="none"))
    rng = _rng("mask", loss)
    where = rng.random(shape) < 0.7
    extra = {"where": where}
    if loss != "cross_entropy":
        extra["weight"] = rng.uniform(0.1, 2, shape)
    generic, fastpath = _both(
        monkeypatch, fn, get_spec(fn).wrt[:1], _readonly(arrays), {**options, **extra}
    )
    _check(generic, fastpath, np.float64)


def test_fast_paths_run_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARRAYLOSS_NUM_THREADS", "1")
    generic, fastpath = _both(
        monkeypatch, al.cross_entropy, "logits", _readonly(_classes(np.float64)), {}
    )
    _check(generic, fastpath, np.float64)


def test_thread_count_rejects_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARRAYLOSS_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="ARRAYLOSS_NUM_THREADS"):
        _chunks.thread_count()


def test_chunk_results_come_back_in_order() -> None:
    out = _chunks.run_chunks(1000, 7, lambda lo, hi: (lo, hi), work_size=1 << 30)
    assert out == [(lo, min(lo + 7, 1000)) for lo in range(0, 1000, 7)]


def test_worker_errors_reach_the_caller() -> None:
    def work(lo: int, hi: int) -> int:
        if lo == 35:
            raise RuntimeError("chunk failed")
        return lo

    with pytest.raises(RuntimeError, match="chunk failed"):
        _chunks.run_chunks(100, 7, work, work_size=1 << 30)


# ---------------------------------------------------------------------- CuPy


def _cupy_or_skip() -> Any:
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as exc:  # no driver
        pytest.skip(f"no CUDA device ({type(exc).__name__})")
    return cupy


def test_cupy_fast_path_module_imports_without_cupy() -> None:
    """The loader swallows ImportError; the module itself must import CuPy lazily."""
    import importlib

    module = importlib.import_module("arrayloss.fast.cupy")
    assert hasattr(module, "overwrite_logits")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    ("loss", "case", "maker"), CASES, ids=[f"{loss}-{case}" for loss, case, _ in CASES]
)
def test_cupy_fast_path_matches_generic_kernel(
    monkeypatch: pytest.MonkeyPatch, loss: str, case: str, maker: Any, reduction: str, dtype: Any
) -> None:
    cupy = _cupy_or_skip()
    fn = getattr(al, loss)
    arrays, options = maker(dtype)
    if loss == "cross_entropy":
        # a CUDA block sums in another order than NumPy: for a row with p_y = 1 - d the
        # loss and p_y - 1 then differ by ~eps / d relative, so keep rows unconfident
        arrays = (arrays[0] / 3, *arrays[1:])
    arrays = tuple(cupy.asarray(a) for a in arrays)
    options = {k: cupy.asarray(v) if isinstance(v, np.ndarray) else v for k, v in options.items()}
    batchmean = options.pop("batchmean", False)
    options["reduction"] = "batchmean" if batchmean and reduction == "mean" else reduction
    wrt = get_spec(fn).wrt[:1]
    cotangent = None
    if reduction == "none":
        shape = fn(*arrays, **options).shape
        cotangent = cupy.asarray(_rng("cot", loss).normal(size=shape).astype(dtype))
    generic, fastpath = _both(monkeypatch, fn, wrt, arrays, options, cotangent)
    _check(_to_host(generic), _to_host(fastpath), dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("edge", EDGE_VALUES)
def test_cupy_cross_entropy_kernel_matches_generic_kernel_at_edges(
    monkeypatch: pytest.MonkeyPatch, edge: float
) -> None:
    cupy = _cupy_or_skip()
    logits, target = _classes(np.float32, 64, 3000)
    logits = logits.copy()
    logits[::3, 5] = edge
    target[::7] = -100
    arrays = (cupy.asarray(logits), cupy.asarray(target))
    for options in (
        {},
        {"weight": cupy.linspace(0.5, 2, 3000, dtype=cupy.float32), "temperature": 2.0},
    ):
        generic, fastpath = _both(monkeypatch, al.cross_entropy, "logits", arrays, options)
        _check(_to_host(generic), _to_host(fastpath), np.float32)


@pytest.mark.gpu
def test_cupy_cross_entropy_can_overwrite_the_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    cupy = _cupy_or_skip()
    from arrayloss.fast.cupy import overwrite_logits

    logits, target = _classes(np.float32, 64, 3000)
    expected = al.value_and_grad(al.cross_entropy)(cupy.asarray(logits), cupy.asarray(target))
    x = cupy.asarray(logits)
    with overwrite_logits():
        value, grad = al.value_and_grad(al.cross_entropy)(x, cupy.asarray(target))
    assert grad.data.ptr == x.data.ptr
    _check(_to_host(expected), _to_host((value, grad)), np.float32)


def _to_host(result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_to_host(r) for r in result)
    return result.get() if hasattr(result, "get") else result


# ----------------------------------------------------------------- benchmark


def test_benchmark_smoke_run_writes_a_csv(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    env = {**os.environ, "ARRAYLOSS_BENCH_MACHINE": "test machine"}
    proc = subprocess.run(
        [sys.executable, "-m", "arrayloss.benchmark", "--tiny", "--workload", "C2",
         "--impl", "fast", "--impl", "generic", "--impl", "numpy", "--output", str(out)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "mse 1000 (small call)" in proc.stdout
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["impl"] for r in rows} == {"fast", "generic", "numpy"}
    assert all(r["machine"] == "test-machine" and float(r["median_s"]) > 0 for r in rows)
    assert "numpy=" in rows[0]["versions"]
