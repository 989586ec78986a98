"""Where the command-line tools run a computation: an installed backend on one device.

``python -m arrayloss check`` and ``python -m arrayloss demo`` run the same NumPy inputs
on every *target*: each installed backend (``al.backends()``), once per kind of device it
can reach (``jax`` on the CPU and ``jax:gpu`` when JAX sees a GPU; ``torch`` and
``torch:cuda``; ``cupy`` only with a CUDA device).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _dispatch

__all__ = ["Target", "available_targets", "select_targets", "to_numpy", "to_numpy_all", "to_target"]


@dataclass(frozen=True)
class Target:
    """A backend on one kind of device.

    Attributes:
        label: the name shown in tables and accepted by ``--backend`` (``"jax:gpu"``).
        backend: the arrayloss backend name (``"jax"``).
        device: ``"cpu"``, ``"gpu"`` or ``"cuda"``.
        version: the library's version.
    """

    label: str
    backend: str
    device: str
    version: str


def _jax_has(platform: str) -> bool:
    try:
        import jax

        return len(jax.devices(platform)) > 0
    except Exception:  # JAX_PLATFORMS excludes it, or no such device
        return False


def available_targets() -> list[Target]:
    """Every installed backend on every kind of device it can use here."""
    found: list[Target] = []
    for info in _dispatch.backends():
        name, version = info.name, info.version
        if name == "cupy":
            if any(d.startswith("cuda:") for d in info.devices):
                found.append(Target("cupy", "cupy", "cuda", version))
            continue
        if name == "jax":
            if _jax_has("cpu"):
                found.append(Target("jax", "jax", "cpu", version))
            if _jax_has("gpu"):
                found.append(Target("jax:gpu", "jax", "gpu", version))
            continue
        found.append(Target(name, name, "cpu", version))
        if name == "torch" and any(d.startswith("cuda") for d in info.devices):
            found.append(Target("torch:cuda", "torch", "cuda", version))
    return found


def select_targets(names: Sequence[str] | None) -> list[Target]:
    """The available targets named in ``names`` (labels or backend names); all if None.

    A backend name selects every device of that backend (``torch`` gives ``torch`` and
    ``torch:cuda``). A name that is not available raises ``ValueError`` listing those
    that are.
    """
    targets = available_targets()
    if not names:
        return targets
    chosen: list[Target] = []
    for raw in names:
        name = {"strict": "array_api_strict", "array-api-strict": "array_api_strict"}.get(raw, raw)
        matches = [t for t in targets if name in (t.label, t.backend)]
        if not matches:
            valid = ", ".join(t.label for t in targets)
            raise ValueError(f"backend {raw!r} is not available here; available: {valid}")
        chosen.extend(t for t in matches if t not in chosen)
    return [t for t in targets if t in chosen]


def to_target(x: Any, target: Target, dtype: Any = None) -> Any:
    """A NumPy array (or scalar) as an array of ``target``; floating data cast to ``dtype``.

    Integer and boolean arrays keep their dtype; anything that is not a NumPy array or
    scalar (``None``, Python numbers, strings) is returned as it is.
    """
    if not isinstance(x, (np.ndarray, np.generic)):
        return x  # None, Python scalars, strings: options passed as they are
    a = np.asarray(x)
    if dtype is not None and a.dtype.kind == "f":
        a = a.astype(dtype)
    name = target.backend
    if name == "numpy":
        return a.copy()
    if name == "array_api_strict":
        import array_api_strict

        return array_api_strict.asarray(a)
    if name == "jax":
        import jax

        return jax.device_put(a, jax.devices(target.device)[0])
    if name == "torch":
        import torch

        return torch.from_numpy(a.copy()).to("cuda" if target.device == "cuda" else "cpu")
    if name == "dask":
        import dask.array as da

        # Two chunks per axis, so reductions really combine partial results.
        return da.from_array(a, chunks=tuple(max(1, (s + 1) // 2) for s in a.shape))
    if name == "cupy":
        import cupy

        return cupy.asarray(a)
    raise ValueError(f"unknown backend {name!r}")


def to_numpy(x: Any) -> np.ndarray:
    """Any backend's array (or a Python number) as a NumPy array, copied to the host."""
    if isinstance(x, (bool, int, float)):
        return np.asarray(x)
    return np.asarray(_dispatch._to_host(x))


def to_numpy_all(*xs: Any) -> list[np.ndarray]:
    """Several results as NumPy arrays; Dask graphs are computed together, in one pass."""
    if any(_dispatch.library_of(x) == "dask" for x in xs):
        import dask

        xs = tuple(dask.compute(*xs))
    return [to_numpy(x) for x in xs]
