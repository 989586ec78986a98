"""The cross-backend test harness: a ``Backend`` enum and ``backend`` / ``xp`` fixtures.

Every test that takes ``backend`` (or ``xp``) runs once per installed backend:
``numpy``, ``numpy_readonly`` (inputs are read-only, so a kernel writing into them
fails), ``array_api_strict``, ``jax`` (eager), ``jax_jit`` (the call runs inside
``jax.jit``: no value-dependent Python branches), ``torch``, ``dask`` (chunked inputs; the
call must not compute the graph), and on a machine with a GPU ``cupy`` and ``jax_gpu``.
A backend that is not installed is skipped with its name in the reason;
``ARRAYLOSS_BACKENDS=numpy,jax`` selects a subset.

Tests build inputs in NumPy float64 and move them with ``backend.asarray``; they call
the function under test with ``backend.call`` (which applies the jit / no-compute rule)
and compare with ``backend.to_numpy`` against references computed in NumPy, PyTorch,
optax or scikit-learn ("backend isolation": only the function under test runs on the
backend).
"""

from __future__ import annotations

import enum
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest

# Scripts under tests/ that are run in subprocesses, not collected (doctest-modules
# would import them).
collect_ignore_glob = ["*_check.py", "scripts/*"]

os.environ.setdefault("JAX_ENABLE_X64", "1")
os.environ.setdefault("JAX_PLATFORMS", os.environ.get("ARRAYLOSS_JAX_PLATFORMS", "cpu"))


class Backend(enum.Enum):
    """A way of running a loss: a library, plus how the call is made."""

    NUMPY = "numpy"
    NUMPY_READONLY = "numpy_readonly"
    ARRAY_API_STRICT = "array_api_strict"
    JAX = "jax"
    JAX_JIT = "jax_jit"
    TORCH = "torch"
    DASK = "dask"
    CUPY = "cupy"
    JAX_GPU = "jax_gpu"

    @property
    def library(self) -> str:
        """The arrayloss backend name (``al.mse(..., xp=<this>)``)."""
        return {
            Backend.NUMPY_READONLY: "numpy",
            Backend.JAX_JIT: "jax",
            Backend.JAX_GPU: "jax",
        }.get(self, self.value)

    @property
    def lazy(self) -> bool:
        """Value checks cannot raise here (JAX, Dask): bad values give NaN instead."""
        return self.library in ("jax", "dask")

    @property
    def is_gpu(self) -> bool:
        return self in (Backend.CUPY, Backend.JAX_GPU)


_MODULES = {
    "numpy": "numpy",
    "array_api_strict": "array_api_strict",
    "jax": "jax",
    "torch": "torch",
    "dask": "dask.array",
    "cupy": "cupy",
}


def _missing(kind: Backend) -> str | None:
    """Why ``kind`` cannot run here, or None."""
    module = _MODULES[kind.library]
    try:
        importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install
        return f"backend {kind.value} is not installed ({module}: {type(exc).__name__})"
    if kind == Backend.CUPY:
        import cupy

        try:
            if cupy.cuda.runtime.getDeviceCount() < 1:
                return "backend cupy: no CUDA device"
        except Exception as exc:  # no driver
            return f"backend cupy: no CUDA device ({type(exc).__name__})"
    if kind == Backend.JAX_GPU:
        import jax

        try:
            jax.devices("gpu")
        except Exception:
            return "backend jax_gpu: no JAX GPU device"
    if kind == Backend.JAX:
        import jax

        jax.config.update("jax_enable_x64", True)
    return None


def selected_backends() -> list[Backend]:
    names = os.environ.get("ARRAYLOSS_BACKENDS")
    if not names:
        return list(Backend)
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    unknown = wanted - {b.value for b in Backend}
    if unknown:
        raise ValueError(
            f"ARRAYLOSS_BACKENDS names unknown backends {sorted(unknown)}; "
            f"valid: {', '.join(b.value for b in Backend)}"
        )
    return [b for b in Backend if b.value in wanted]


class DaskComputeError(AssertionError):
    """The Dask graph was computed inside a loss, which must stay lazy."""


def _forbid_compute(*args: Any, **kwargs: Any) -> Any:
    raise DaskComputeError("a loss computed the Dask graph; losses must stay lazy under Dask")


class Harness:
    """One backend under test: conversion in and out, and the way calls are made."""

    def __init__(self, kind: Backend) -> None:
        self.kind = kind
        self.name = kind.value
        self.library = kind.library
        self.lazy = kind.lazy
        import arrayloss._dispatch as dispatch

        self.xp: ModuleType = dispatch.get_namespace(kind.library)

    def __repr__(self) -> str:
        return f"Harness({self.name})"

    # -- data in -------------------------------------------------------------

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """Move a NumPy array (or scalar/list) onto this backend, keeping its dtype.

        ``dtype`` is a NumPy dtype or name (``"float32"``, ``"bfloat16"``).
        """
        if x is None:
            return None
        a = np.asarray(x)
        if dtype is not None:
            a = a.astype(_numpy_dtype(dtype))
        lib = self.library
        if self.kind == Backend.NUMPY_READONLY:
            a = a.copy()
            a.flags.writeable = False
            return a
        if lib == "numpy":
            return a.copy()
        if lib == "array_api_strict":
            import array_api_strict

            return array_api_strict.asarray(a)
        if lib == "jax":
            import jax
            import jax.numpy as jnp

            device = (
                jax.devices("gpu")[0] if self.kind == Backend.JAX_GPU else jax.devices("cpu")[0]
            )
            if str(a.dtype) == "bfloat16":
                return jax.device_put(
                    jnp.asarray(a.astype(np.float32)).astype(jnp.bfloat16), device
                )
            return jax.device_put(jnp.asarray(a), device)
        if lib == "torch":
            import torch

            if str(a.dtype) == "bfloat16":
                return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
            return torch.from_numpy(a.copy())
        if lib == "dask":
            import dask.array as da

            chunks = tuple(max(1, (s + 1) // 2) for s in a.shape)
            return da.from_array(a, chunks=chunks)
        if lib == "cupy":
            import cupy

            return cupy.asarray(a)
        raise AssertionError(lib)

    # -- calls ---------------------------------------------------------------

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` the way this backend is tested.

        ``jax_jit``: inside ``jax.jit``, with every argument that is not a JAX array
        static. ``dask``: with a scheduler that fails if the graph is computed.
        """
        if self.kind == Backend.JAX_JIT:
            return _call_jitted(fn, args, kwargs)
        if self.library == "dask":
            import dask

            with dask.config.set(scheduler=_forbid_compute):
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)

    # -- data out ------------------------------------------------------------

    def to_numpy(self, x: Any) -> Any:
        """A NumPy copy of a result (or a tuple of results)."""
        if isinstance(x, tuple):
            return tuple(self.to_numpy(v) for v in x)
        return to_numpy(x)


def to_numpy(x: Any) -> np.ndarray:
    """Any backend's array as a NumPy array (bfloat16 as float32)."""
    module = type(x).__module__.split(".")[0]
    if module == "torch":
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        return x.numpy()
    if module == "cupy":
        return x.get()
    if module == "dask":
        return np.asarray(x.compute())
    if module == "array_api_strict":
        import array_api_strict

        return np.asarray(array_api_strict.asarray(x, copy=True)._array)
    if module.startswith("jax"):
        if str(x.dtype) == "bfloat16":
            import jax.numpy as jnp

            x = x.astype(jnp.float32)
        return np.asarray(x)
    return np.asarray(x)


def _numpy_dtype(dtype: Any) -> Any:
    if str(dtype) == "bfloat16":
        # NumPy has no bfloat16 of its own; ml_dtypes is a test extra
        ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 test data needs ml_dtypes")
        return ml_dtypes.bfloat16
    return np.dtype(dtype)


def _is_jax_array(x: Any) -> bool:
    import jax

    return isinstance(x, jax.Array)


def _call_jitted(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import jax

    array_args = [i for i, a in enumerate(args) if _is_jax_array(a)]
    array_kwargs = [k for k, v in kwargs.items() if _is_jax_array(v)]

    def inner(traced_args: list[Any], traced_kwargs: dict[str, Any]) -> Any:
        full_args = list(args)
        for i, a in zip(array_args, traced_args, strict=True):
            full_args[i] = a
        full_kwargs = {**kwargs, **traced_kwargs}
        return fn(*full_args, **full_kwargs)

    return jax.jit(inner)([args[i] for i in array_args], {k: kwargs[k] for k in array_kwargs})


def _params() -> list[Any]:
    params = []
    for kind in selected_backends():
        marks = [pytest.mark.gpu] if kind.is_gpu else []
        params.append(pytest.param(kind, id=kind.value, marks=marks))
    return params


@pytest.fixture(params=_params())
def backend(request: pytest.FixtureRequest) -> Harness:
    """Every installed backend (see the module docstring)."""
    kind: Backend = request.param
    reason = _missing(kind)
    if reason is not None:
        pytest.skip(reason)
    return Harness(kind)


@pytest.fixture
def xp(backend: Harness) -> ModuleType:
    """The array namespace of ``backend``."""
    return backend.xp


@pytest.fixture(autouse=True)
def _fast_paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Honour ``ARRAYLOSS_DISABLE_FASTPATHS`` per test via the ``no_fastpaths`` marker."""
    if request.node.get_closest_marker("no_fastpaths") is not None:
        monkeypatch.setenv("ARRAYLOSS_DISABLE_FASTPATHS", "1")


def pytest_configure(config: pytest.Config) -> None:
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
    except ImportError:
        pass
    try:
        import torch
    except ImportError:
        pass
    else:
        # the tests use tiny tensors: thread start-up would dominate their run time
        torch.set_num_threads(1)
