"""Shared test utilities: tolerances, finite differences, optional oracles."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

#: float64 agreement with PyTorch / optax / scikit-learn (DESIGN.md section 3).
RTOL64 = 1e-10
#: float32 cross-backend agreement: 4 * sqrt(eps).
RTOL32 = 4 * float(np.sqrt(np.finfo(np.float32).eps))


def assert_close(
    actual: Any, desired: Any, *, rtol: float = RTOL64, atol: float = 0.0, err_msg: str = ""
) -> None:
    """NumPy comparison of two results (arrays or tuples of arrays), NaN == NaN."""
    if isinstance(desired, tuple):
        assert isinstance(actual, tuple), f"expected a tuple, got {type(actual).__name__}"
        assert len(actual) == len(desired)
        for a, d in zip(actual, desired, strict=True):
            assert_close(a, d, rtol=rtol, atol=atol, err_msg=err_msg)
        return
    actual = np.asarray(actual)
    desired = np.asarray(desired)
    assert actual.shape == desired.shape, f"shape {actual.shape} != {desired.shape} {err_msg}"
    np.testing.assert_allclose(
        actual, desired, rtol=rtol, atol=atol, equal_nan=True, err_msg=err_msg
    )


def numeric_grad(
    f: Callable[..., float], args: Sequence[np.ndarray], index: int, *, step: float = 1e-6
) -> np.ndarray:
    """Central finite differences of the scalar ``f(*args)`` in ``args[index]`` (float64)."""
    args = [
        np.array(a, dtype=np.float64, order="C") if i == index else a for i, a in enumerate(args)
    ]
    x = args[index]
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    gflat = g.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        h = step * max(1.0, abs(orig))
        flat[i] = orig + h
        up = float(f(*args))
        flat[i] = orig - h
        down = float(f(*args))
        flat[i] = orig
        gflat[i] = (up - down) / (2 * h)
    return g


def torch_or_skip() -> Any:
    """PyTorch (the float64 oracle), or skip the test when it is not installed."""
    return pytest.importorskip("torch")


def optional(module: str) -> Any:
    """Import ``module`` or skip the test naming it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.skip(f"{module} is not installed")


def torch64(x: Any, requires_grad: bool = False) -> Any:
    """A float64 (or integer/bool, kept) PyTorch tensor copy of a NumPy array."""
    torch = torch_or_skip()
    a = np.asarray(x)
    t = torch.from_numpy(a.copy())
    if a.dtype.kind == "f":
        t = t.to(torch.float64)
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_torch(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy()
