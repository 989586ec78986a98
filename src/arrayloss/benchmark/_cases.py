"""What a benchmark case is, and the runners shared by every workload.

A :class:`Case` is one loss at one size: its inputs (built lazily, once), the bytes and
transcendental evaluations that set its floor, and the implementations to time. An
:class:`Impl` builds a zero-argument runner from the inputs; the runner does one full
value-and-gradient evaluation and returns what it computed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Case",
    "Impl",
    "arrayloss_impls",
    "jax_impl",
    "numpy_impl",
    "torch_impl",
]

Runner = Callable[[], Any]
Data = dict[str, Any]


@dataclass
class Impl:
    """One implementation of a case.

    ``label``: the column it reports under (``fast``, ``generic``, ``numpy``, ``torch``,
    ``jax``; ``al-jax``/``al-torch`` for arrayloss called through JAX/PyTorch arrays).
    ``sync``: ``"jax"`` (``block_until_ready``), ``"cuda"`` (CUDA events) or ``"none"``.
    ``memory``: how peak memory is measured (see ``_timing.peak_memory``).
    ``fastpaths``: False runs it with ``ARRAYLOSS_DISABLE_FASTPATHS=1``.
    ``requires``: modules it imports; a missing one skips the implementation.
    """

    label: str
    build: Callable[[Data], Runner]
    sync: str = "none"
    memory: str | None = None
    fastpaths: bool = True
    requires: tuple[str, ...] = ()


@dataclass
class Case:
    """One loss at one size, with its floor model and its implementations."""

    workload: str
    name: str
    losses: tuple[str, ...]
    elements: int
    dtype: str
    bytes_moved: float
    exps: float
    data: Callable[[], Data]
    impls: list[Impl]
    primary: str = "fast"
    #: which implementation each peer is compared with (default: ``primary``)
    versus: dict[str, str] = field(default_factory=dict)
    batch: int = 1
    input_bytes: int = 0
    _cache: Data | None = field(default=None, repr=False)

    def inputs(self) -> Data:
        if self._cache is None:
            self._cache = self.data()
        return self._cache

    def ours_for(self, label: str) -> str:
        """The arrayloss implementation that ``label`` is compared with."""
        return self.versus.get(label, self.primary)

    def release(self) -> None:
        self._cache = None


def missing_modules(names: Sequence[str]) -> list[str]:
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # not installed, or broken: either way it cannot run
            missing.append(name)
    return missing


# --------------------------------------------------------------- runners


def arrayloss_impls(
    loss: str,
    args: Sequence[str],
    *,
    wrt: Any = None,
    options: dict[str, Any] | None = None,
) -> list[Impl]:
    """``fast`` and ``generic``: ``al.value_and_grad(loss)`` on the NumPy inputs."""
    kw = dict(options or {})

    def build(data: Data) -> Runner:
        import arrayloss as al

        vg = al.value_and_grad(getattr(al, loss), wrt=wrt)
        arrays = [data[a] for a in args]
        return lambda: vg(*arrays, **kw)

    return [
        Impl("fast", build, memory="host"),
        Impl("generic", build, memory="host", fastpaths=False),
    ]


def numpy_impl(fn: Callable[..., Any], args: Sequence[str], **kw: Any) -> Impl:
    """The loss and its gradient written plainly in NumPy (``fn(*arrays) -> (v, g)``)."""

    def build(data: Data) -> Runner:
        arrays = [data[a] for a in args]
        return lambda: fn(*arrays, **kw)

    return Impl("numpy", build, memory="host")


def torch_impl(
    fn: Callable[..., Any],
    args: Sequence[str],
    *,
    grad: Sequence[int] = (0,),
    label: str = "torch",
    **kw: Any,
) -> Impl:
    """PyTorch CPU: forward, then ``.backward()`` into the ``grad`` arguments."""

    def build(data: Data) -> Runner:
        import torch

        tensors = [torch.from_numpy(np.asarray(data[a])) for a in args]
        for i in grad:
            tensors[i].requires_grad_(True)

        def run() -> Any:
            for i in grad:
                tensors[i].grad = None
            loss = fn(*tensors, **kw)
            loss.backward()
            return loss, [tensors[i].grad for i in grad]

        return run

    return Impl(label, build, requires=("torch",))


def jax_impl(
    fn: Callable[..., Any],
    args: Sequence[str],
    *,
    grad: Sequence[int] = (0,),
    label: str = "jax",
    device: str = "cpu",
    **kw: Any,
) -> Impl:
    """``jax.jit(jax.value_and_grad(fn, argnums=grad))`` on the inputs put on ``device``."""

    def build(data: Data) -> Runner:
        import jax

        dev = jax.devices(device)[0]
        arrays = [jax.device_put(np.asarray(data[a]), dev) for a in args]

        def objective(*xs: Any) -> Any:
            return fn(*xs, **kw)

        f = jax.jit(jax.value_and_grad(objective, argnums=tuple(grad)))
        return lambda: f(*arrays)

    memory = "jax" if device != "cpu" else None
    return Impl(label, build, sync="jax", memory=memory, requires=("jax", "optax"))
