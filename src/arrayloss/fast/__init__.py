"""Optional per-backend fast paths, looked up by (loss name, backend name).

A fast path is ``fn(problem, wrt, cotangent) -> (reduced value, grads) | NotImplemented``
where ``wrt`` is a tuple of argument names (empty for the value alone) and ``grads`` a
tuple of arrays broadcastable to those arguments, in the compute dtype. It returns
``NotImplemented`` for any case it does not cover (an option, a reduction, a mask), and
the engine falls back to the generic kernel. Fast paths must agree with the kernel to the
conformance tolerances; ``ARRAYLOSS_DISABLE_FASTPATHS=1`` turns them all off.

Backend modules register themselves on import (:func:`register`); they are imported
lazily the first time a loss runs on that backend.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["FastPath", "disabled", "lookup", "register", "registered"]

FastPath = Callable[[Any, tuple[str, ...], Any], Any]

_PATHS: dict[tuple[str, str], FastPath] = {}
_LOADED: set[str] = set()
_LOAD_LOCK = threading.RLock()
# Backends with a fast-path module in this package.
_MODULES = {"numpy": "numpy", "cupy": "cupy", "torch": "torch"}


def disabled() -> bool:
    """True when ``ARRAYLOSS_DISABLE_FASTPATHS`` is set to a true value."""
    return os.environ.get("ARRAYLOSS_DISABLE_FASTPATHS", "").lower() in ("1", "true", "yes", "on")


def register(loss: str, backend: str) -> Callable[[FastPath], FastPath]:
    """Decorator: register ``fn`` as the fast path of ``loss`` on ``backend``."""

    def decorate(fn: FastPath) -> FastPath:
        _PATHS[(loss, backend)] = fn
        return fn

    return decorate


def _load(backend: str) -> None:
    if backend in _LOADED:
        return
    # Marked loaded only once its paths are registered: a thread that saw the mark
    # while another was still importing would take the generic kernel (other bits).
    with _LOAD_LOCK:
        if backend in _LOADED:
            return
        module = _MODULES.get(backend)
        if module is not None:
            # e.g. CuPy's kernels need a CUDA toolkit; the generic kernel still runs
            with contextlib.suppress(ImportError):
                importlib.import_module(f"{__name__}.{module}")
        _LOADED.add(backend)


def lookup(problem: Any) -> FastPath | None:
    """The fast path for the problem's loss and backend, or None."""
    if disabled():
        return None
    backend = problem.backend
    _load(backend)
    return _PATHS.get((problem.spec.name, backend))


def registered() -> dict[tuple[str, str], FastPath]:
    """All registered fast paths (after loading every backend module that imports)."""
    for backend in _MODULES:
        _load(backend)
    return dict(_PATHS)
