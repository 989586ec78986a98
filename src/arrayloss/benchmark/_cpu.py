"""The CPU workloads: C1-C8 (NumPy fast path against its peers) and J1-J2 (arrayloss
called with JAX and PyTorch arrays against hand-written jitted JAX and PyTorch).

Sizes are ``full`` (the issue's), ``quick`` (the suite in under 3 minutes) and ``tiny``
(a smoke test). Every input is float32; class labels are int64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _formulas as f
from ._cases import Case, Data, arrayloss_impls, jax_impl, numpy_impl, torch_impl

__all__ = ["cpu_cases"]

SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "C1": 1 << 25, "C2": 1 << 14, "small": 1000, "C3": 1 << 25,
        "C4": [(8192, 8192), (4096, 32000)], "C5": (1 << 20, 10), "C6": (4096, 8192),
        "C7": (32, 4, 512, 512), "C8": (262144, 128), "J1": 10**7, "J2": (4096, 32000),
    },
    "quick": {
        "C1": 1 << 21, "C2": 1 << 14, "small": 1000, "C3": 1 << 21,
        "C4": [(512, 8192), (256, 32000)], "C5": (1 << 16, 10), "C6": (512, 8192),
        "C7": (4, 4, 256, 256), "C8": (16384, 128), "J1": 1 << 21, "J2": (256, 32000),
    },
    "tiny": {
        "C1": 1 << 10, "C2": 1 << 10, "small": 1000, "C3": 1 << 10,
        "C4": [(16, 100)], "C5": (1000, 10), "C6": (16, 64),
        "C7": (2, 4, 8, 8), "C8": (64, 16), "J1": 1 << 10, "J2": (8, 100),
    },
}  # fmt: skip

#: Calls per timing sample for the call-overhead workloads.
BATCH = {"full": 200, "quick": 50, "tiny": 3}

F32 = 4


def _rng() -> np.random.Generator:
    return np.random.default_rng(20261129)


def _pair(n: int) -> Callable[[], Data]:
    def data() -> Data:
        rng = _rng()
        return {
            "pred": rng.standard_normal(n, dtype=np.float32),
            "target": rng.standard_normal(n, dtype=np.float32),
        }

    return data


def _binary(n: int) -> Callable[[], Data]:
    def data() -> Data:
        rng = _rng()
        return {
            "logits": rng.standard_normal(n, dtype=np.float32) * 3,
            "target": (rng.random(n) < 0.3).astype(np.float32),
        }

    return data


def _classes(rows: int, classes: int) -> Callable[[], Data]:
    def data() -> Data:
        rng = _rng()
        return {
            "logits": rng.standard_normal((rows, classes), dtype=np.float32),
            "target": rng.integers(0, classes, rows),
        }

    return data


def _regression_cases(workload: str, n: int, batch: int) -> list[Case]:
    specs = [
        ("mse", f.np_mse, "mse_loss", f.jax_mse, {}),
        ("mae", f.np_mae, "l1_loss", f.jax_mae, {}),
        ("huber", f.np_huber, "huber_loss", f.jax_huber, {"delta": 1.0}),
    ]
    cases = []
    for loss, np_fn, torch_name, jax_fn, options in specs:
        impls = [
            *arrayloss_impls(loss, ("pred", "target"), options=options),
            numpy_impl(np_fn, ("pred", "target")),
            torch_impl(_torch_f(torch_name), ("pred", "target")),
            jax_impl(jax_fn, ("pred", "target")),
        ]
        cases.append(
            Case(workload, f"{loss} {n}", (loss,), n, "float32", 12 * n, 0, _pair(n), impls,
                 batch=batch, input_bytes=2 * F32 * n)
        )  # fmt: skip
    return cases


def _torch_f(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kw: Any) -> Any:
        from torch.nn import functional

        return getattr(functional, name)(*args, **kw)

    call.__name__ = name
    return call


def _small_call(n: int, batch: int) -> Case:
    """arrayloss on 1,000 elements against the same formula written by hand in NumPy."""
    impls = [*arrayloss_impls("mse", ("pred", "target")), numpy_impl(f.np_mse, ("pred", "target"))]
    return Case("C2", f"mse {n} (small call)", ("mse",), n, "float32", 12 * n, 0, _pair(n),
                impls, batch=batch, input_bytes=2 * F32 * n)  # fmt: skip


def cpu_cases(size: str) -> list[Case]:
    """Every CPU workload at ``size`` (``full``, ``quick`` or ``tiny``)."""
    s = SIZES[size]
    batch = BATCH[size]
    cases: list[Case] = []
    cases += _regression_cases("C1", s["C1"], 1)
    cases += _regression_cases("C2", s["C2"], batch)
    cases.append(_small_call(s["small"], batch * 10))

    n = s["C3"]
    for loss, np_fn, torch_fn, jax_fn in (
        ("binary_cross_entropy_with_logits", f.np_bce_logits,
         _torch_f("binary_cross_entropy_with_logits"), f.jax_bce_logits),
        ("sigmoid_focal_loss", f.np_sigmoid_focal, f.torch_sigmoid_focal, f.jax_sigmoid_focal),
    ):  # fmt: skip
        impls = [
            *arrayloss_impls(loss, ("logits", "target")),
            numpy_impl(np_fn, ("logits", "target")),
            torch_impl(torch_fn, ("logits", "target")),
            jax_impl(jax_fn, ("logits", "target")),
        ]
        short = "bce_with_logits" if loss.startswith("binary") else "sigmoid_focal"
        cases.append(Case("C3", f"{short} {n}", (loss,), n, "float32", 12 * n, n,
                          _binary(n), impls, input_bytes=2 * F32 * n))  # fmt: skip

    for workload, shapes in (("C4", s["C4"]), ("C5", [s["C5"]])):
        for rows, classes in shapes:
            m = rows * classes
            impls = [
                *arrayloss_impls("cross_entropy", ("logits", "target")),
                numpy_impl(f.np_cross_entropy, ("logits", "target")),
                torch_impl(_torch_f("cross_entropy"), ("logits", "target")),
                jax_impl(f.jax_cross_entropy, ("logits", "target")),
            ]
            cases.append(Case(workload, f"cross_entropy {rows}x{classes}", ("cross_entropy",),
                              m, "float32", 8 * m, m, _classes(rows, classes), impls,
                              input_bytes=F32 * m))  # fmt: skip

    rows, classes = s["C6"]
    m = rows * classes
    impls = [
        *arrayloss_impls("kl_div", ("input", "target"), options={"reduction": "batchmean"}),
        numpy_impl(f.np_kl_div, ("input", "target")),
        torch_impl(_torch_f("kl_div"), ("input", "target"), reduction="batchmean"),
        jax_impl(f.jax_kl_div, ("input", "target")),
    ]
    cases.append(Case("C6", f"kl_div {rows}x{classes}", ("kl_div",), m, "float32", 12 * m, m,
                      _distributions(rows, classes), impls, input_bytes=2 * F32 * m))  # fmt: skip

    shape = s["C7"]
    m = int(np.prod(shape))
    impls = [
        *arrayloss_impls("dice", ("pred", "target"), wrt="pred", options={"axis": 1}),
        numpy_impl(f.np_dice, ("pred", "target")),
        torch_impl(f.torch_dice, ("pred", "target")),
        jax_impl(f.jax_dice, ("pred", "target")),
    ]
    label = "x".join(map(str, shape))
    cases.append(Case("C7", f"dice {label}", ("dice",), m, "float32", 12 * m, 0,
                      _segmentation(shape), impls, input_bytes=2 * F32 * m))  # fmt: skip

    rows, dim = s["C8"]
    m = rows * dim
    args = ("anchor", "positive", "negative")
    impls = [
        *arrayloss_impls("triplet_margin", args, wrt=args),
        numpy_impl(f.np_triplet, args),
        torch_impl(_torch_f("triplet_margin_loss"), args, grad=(0, 1, 2)),
        jax_impl(f.jax_triplet, args, grad=(0, 1, 2)),
    ]
    cases.append(Case("C8", f"triplet_margin {rows}x{dim}", ("triplet_margin",), m, "float32",
                      24 * m, 0, _triplets(rows, dim), impls, input_bytes=3 * F32 * m))  # fmt: skip

    cases += _framework_cases(s)
    return cases


def _distributions(rows: int, classes: int) -> Callable[[], Data]:
    def data() -> Data:
        rng = _rng()
        q = rng.standard_normal((rows, classes), dtype=np.float32)
        q -= np.log(np.exp(q).sum(axis=1, keepdims=True))
        p = rng.random((rows, classes), dtype=np.float32)
        p /= p.sum(axis=1, keepdims=True)
        return {"input": q, "target": p}

    return data


def _segmentation(shape: tuple[int, ...]) -> Callable[[], Data]:
    def data() -> Data:
        rng = _rng()
        logits = rng.standard_normal(shape, dtype=np.float32)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        pred = e / e.sum(axis=1, keepdims=True)
        labels = rng.integers(0, shape[1], (shape[0], *shape[2:]))
        onehot = labels[:, None] == np.arange(shape[1]).reshape(1, -1, *[1] * (len(shape) - 2))
        return {"pred": pred, "target": onehot.astype(np.float32)}

    return data


def _triplets(rows: int, dim: int) -> Callable[[], Data]:
    def data() -> Data:
        rng = _rng()
        return {k: rng.standard_normal((rows, dim), dtype=np.float32)
                for k in ("anchor", "positive", "negative")}  # fmt: skip

    return data


# ------------------------------------------------------ J1/J2: JAX and PyTorch


def _al_loss(name: str, **kw: Any) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        import arrayloss as al

        return getattr(al, name)(*args, **kw)

    call.__name__ = f"al_{name}"
    return call


#: In J1/J2 each native step is compared with arrayloss called the same way.
PAIRS = {"jax": "al-jax", "torch": "al-torch"}


def _framework_cases(s: dict[str, Any]) -> list[Case]:
    """arrayloss with JAX arrays (inside the user's ``jax.jit(jax.value_and_grad)``) and
    with PyTorch tensors (``.backward()``), against the same step written natively."""
    n = s["J1"]
    mse_impls = [
        jax_impl(_al_loss("mse"), ("pred", "target"), label="al-jax"),
        jax_impl(f.jax_mse, ("pred", "target"), label="jax"),
        torch_impl(_al_loss("mse"), ("pred", "target"), label="al-torch"),
        torch_impl(_torch_f("mse_loss"), ("pred", "target"), label="torch"),
    ]
    rows, classes = s["J2"]
    m = rows * classes
    ce_impls = [
        jax_impl(_al_loss("cross_entropy"), ("logits", "target"), label="al-jax"),
        jax_impl(f.jax_cross_entropy, ("logits", "target"), label="jax"),
        torch_impl(_al_loss("cross_entropy"), ("logits", "target"), label="al-torch"),
        torch_impl(_torch_f("cross_entropy"), ("logits", "target"), label="torch"),
    ]
    return [
        Case("J1", f"mse {n}", ("mse",), n, "float32", 12 * n, 0, _pair(n), mse_impls,
             primary="al-jax", versus=PAIRS, input_bytes=2 * F32 * n),
        Case("J2", f"cross_entropy {rows}x{classes}", ("cross_entropy",), m, "float32", 8 * m, m,
             _classes(rows, classes), ce_impls, primary="al-jax", versus=PAIRS,
             input_bytes=F32 * m),
    ]  # fmt: skip
