"""The GPU workloads, run when CuPy sees a CUDA device.

* G1: MSE / MAE / Huber value+grad over 2^30 float32 (bandwidth-bound);
* G2: class-index cross-entropy, 16384 x 131072 float32 (the Liger-Kernel setting);
* G3: the same at 8192 x 131072 bfloat16 (through PyTorch and JAX: CuPy has no bfloat16);
* G4: latency, many losses at 4096 elements.

Implementations: ``cupy-fast`` (arrayloss on CuPy arrays, fast path on), ``cupy-generic``
(fast paths off), ``cupy-overwrite`` (G2: the gradient written over the logits),
``torch`` (CUDA autograd), ``jax`` (jitted on the GPU). CuPy runs are timed with CUDA
events; the first call (kernel compilation included) is reported separately.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _formulas as f
from ._cases import Case, Data, Impl, Runner, jax_impl
from ._floors import Floors, measure_gpu_floors

__all__ = ["WORKLOADS", "gpu_cases", "gpu_name", "measure_floors"]

WORKLOADS = ("G1", "G2", "G3", "G4")

SIZES: dict[str, dict[str, Any]] = {
    "full": {"G1": 1 << 30, "G2": (16384, 131072), "G3": (8192, 131072), "G4": 4096},
    "quick": {"G1": 1 << 26, "G2": (4096, 131072), "G3": (2048, 131072), "G4": 4096},
    "tiny": {"G1": 1 << 12, "G2": (64, 1000), "G3": (64, 1000), "G4": 4096},
}


def gpu_name() -> str | None:
    """The CUDA device CuPy would use, or None."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    except Exception:  # no CuPy, no driver, no device
        return None
    return name.decode() if isinstance(name, bytes) else str(name)


def measure_floors() -> Floors:
    return measure_gpu_floors()


def _cupy_impls(loss: str, args: Sequence[str], *, wrt: Any = None, **kw: Any) -> list[Impl]:
    def build(data: Data) -> Runner:
        import cupy

        import arrayloss as al

        arrays = [cupy.asarray(data[a]) for a in args]
        vg = al.value_and_grad(getattr(al, loss), wrt=wrt)
        return lambda: vg(*arrays, **kw)

    return [
        Impl("cupy-fast", build, sync="cuda", memory="cupy", requires=("cupy",)),
        Impl("cupy-generic", build, sync="cuda", memory="cupy", fastpaths=False, requires=("cupy",)),
    ]  # fmt: skip


def _torch_cuda(
    fn: Callable[..., Any],
    args: Sequence[str],
    *,
    label: str = "torch",
    dtype: str | None = None,
    **kw: Any,
) -> Impl:
    def build(data: Data) -> Runner:
        import torch

        tensors = []
        for a in args:
            t = torch.from_numpy(np.asarray(data[a])).cuda()
            if dtype is not None and t.is_floating_point():
                t = t.to(getattr(torch, dtype))
            tensors.append(t)
        tensors[0].requires_grad_(True)

        def run() -> Any:
            tensors[0].grad = None
            loss = fn(*tensors, **kw)
            loss.backward()
            return loss, tensors[0].grad

        return run

    return Impl(label, build, sync="torch-cuda", memory="torch-cuda", requires=("torch",))


def _torch_f(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kw: Any) -> Any:
        from torch.nn import functional

        return getattr(functional, name)(*args, **kw)

    return call


def _al(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kw: Any) -> Any:
        import arrayloss as al

        return getattr(al, name)(*args, **kw)

    return call


def _pair(n: int) -> Callable[[], Data]:
    def data() -> Data:
        rng = np.random.default_rng(1)
        return {
            "pred": rng.standard_normal(n, dtype=np.float32),
            "target": rng.standard_normal(n, dtype=np.float32),
        }

    return data


def _classes(rows: int, classes: int) -> Callable[[], Data]:
    def data() -> Data:
        rng = np.random.default_rng(2)
        return {
            "logits": rng.standard_normal((rows, classes), dtype=np.float32),
            "target": rng.integers(0, classes, rows),
        }

    return data


def _overwrite_impl() -> Impl:
    def build(data: Data) -> Runner:
        import cupy

        import arrayloss as al

        source = cupy.asarray(data["logits"])
        logits = source.copy()
        target = cupy.asarray(data["target"])
        vg = al.value_and_grad(al.cross_entropy)

        def run() -> Any:
            # the logits are consumed: refresh them (a device copy, outside the kernel)
            cupy.copyto(logits, source)
            with overwrite_logits():
                return vg(logits, target)

        return run

    return Impl("cupy-overwrite", build, sync="cuda", memory="cupy", requires=("cupy",))


def overwrite_logits() -> Any:
    from ..fast.cupy import overwrite_logits as context

    return context()


def gpu_cases(mode: str) -> list[Case]:
    s = SIZES[mode]
    cases: list[Case] = []
    n = s["G1"]
    for loss, torch_name, jax_fn in (
        ("mse", "mse_loss", f.jax_mse), ("mae", "l1_loss", f.jax_mae), ("huber", "huber_loss", f.jax_huber),
    ):  # fmt: skip
        impls = [
            *_cupy_impls(loss, ("pred", "target")),
            _torch_cuda(_torch_f(torch_name), ("pred", "target")),
            jax_impl(jax_fn, ("pred", "target"), device="gpu"),
        ]
        cases.append(Case("G1", f"{loss} {n}", (loss,), n, "float32", 12 * n, 0, _pair(n), impls,
                          primary="cupy-fast", input_bytes=8 * n))  # fmt: skip

    rows, classes = s["G2"]
    m = rows * classes
    impls = [
        *_cupy_impls("cross_entropy", ("logits", "target")),
        _overwrite_impl(),
        _torch_cuda(_torch_f("cross_entropy"), ("logits", "target")),
        jax_impl(f.jax_cross_entropy, ("logits", "target"), device="gpu"),
    ]
    # two-pass floor: read the logits twice, write the gradient once
    cases.append(Case("G2", f"cross_entropy {rows}x{classes}", ("cross_entropy",), m, "float32",
                      12 * m, 0, _classes(rows, classes), impls, primary="cupy-fast",
                      input_bytes=4 * m))  # fmt: skip

    rows, classes = s["G3"]
    m = rows * classes
    impls = [
        _torch_cuda(_al("cross_entropy"), ("logits", "target"), label="al-torch", dtype="bfloat16"),
        _torch_cuda(_torch_f("cross_entropy"), ("logits", "target"), dtype="bfloat16"),
    ]
    cases.append(Case("G3", f"cross_entropy {rows}x{classes} bf16", ("cross_entropy",), m,
                      "bfloat16", 6 * m, 0, _classes(rows, classes), impls, primary="al-torch",
                      input_bytes=2 * m))  # fmt: skip

    n = s["G4"]
    for loss in ("mse", "mae", "huber", "smooth_l1", "log_cosh", "binary_cross_entropy_with_logits",
                 "sigmoid_focal_loss"):  # fmt: skip
        args = ("logits", "target") if "logits" in loss or "focal" in loss else ("pred", "target")
        cases.append(Case("G4", f"{loss} {n}", (loss,), n, "float32", 12 * n, 0,
                          _latency_data(args, n), _cupy_impls(loss, args), primary="cupy-fast",
                          input_bytes=8 * n))  # fmt: skip
    rows = n // 16
    cases.append(Case("G4", f"cross_entropy {rows}x16", ("cross_entropy",), n, "float32", 8 * n, 0,
                      _classes(rows, 16), _cupy_impls("cross_entropy", ("logits", "target")),
                      primary="cupy-fast", input_bytes=4 * n))  # fmt: skip
    return cases


def _latency_data(args: Sequence[str], n: int) -> Callable[[], Data]:
    def data() -> Data:
        rng = np.random.default_rng(3)
        first = rng.standard_normal(n, dtype=np.float32)
        if args[0] == "logits":
            return {"logits": first, "target": (rng.random(n) < 0.5).astype(np.float32)}
        return {"pred": first, "target": rng.standard_normal(n, dtype=np.float32)}

    return data
