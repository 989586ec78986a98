"""Small deterministic inputs for every loss, shared by ``python -m arrayloss check`` and
``tests/test_conformance.py``.

Each loss (by its spec name; aliases share it) has a factory returning a few
:class:`Case`: positional arrays in NumPy float64 (floating data) or int64 (class
indices), and keyword options (``weight=``, ``where=`` and the loss's own). Inputs stay
away from kinks (``|d| = delta`` ...), so float32 and float64 take the same branch, and
exercise the options whose denominators differ between libraries. A loss without a
factory is reported by the checker as a failure ("no conformance inputs"). The
factories live in ``cases_regression.py``, ``cases_classification.py`` and
``cases_embedding.py``; this module holds the building blocks.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["INPUTS", "Case", "cases_for"]


@dataclass(frozen=True)
class Case:
    """One call of a loss: ``loss(*args, **options)``.

    Floating NumPy arrays among ``args`` and ``options`` are cast to the dtype under
    test; integer and boolean arrays and Python scalars are passed as they are.
    """

    label: str
    args: tuple[Any, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


Factory = Callable[[np.random.Generator], list[Case]]

#: loss name -> factory of its cases
INPUTS: dict[str, Factory] = {}


def cases_for(name: str) -> list[Case] | None:
    """The cases of loss ``name`` (its spec name), or None when it has no factory."""
    factory = INPUTS.get(name)
    if factory is None:
        return None
    return factory(np.random.default_rng(zlib.crc32(name.encode())))


def inputs(*names: str) -> Callable[[Factory], Factory]:
    """Decorator: register a factory of cases for the losses ``names``."""

    def decorate(factory: Factory) -> Factory:
        for name in names:
            INPUTS[name] = factory
        return factory

    return decorate


# ------------------------------------------------------------------ building blocks


def normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def uniform(rng: np.random.Generator, low: float, high: float, *shape: int) -> np.ndarray:
    return rng.uniform(low, high, shape)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def labels(rng: np.random.Generator, classes: int, *shape: int) -> np.ndarray:
    return rng.integers(0, classes, shape).astype(np.int64)


def signs(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def bits(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return (rng.random(shape) < 0.5).astype(np.float64)


def pair_away_from(
    rng: np.random.Generator, kinks: tuple[float, ...], *shape: int
) -> tuple[np.ndarray, np.ndarray]:
    """``pred, target`` whose difference keeps 0.05 away from ``±kink`` for each kink."""
    target = normal(rng, *shape)
    d = normal(rng, *shape)
    for kink in kinks:
        near = np.abs(np.abs(d) - kink) < 0.05
        d = np.where(near, d + 0.1 * np.sign(d + (d == 0)), d)
    return target + d, target


def weight_and_mask(rng: np.random.Generator, *shape: int) -> dict[str, Any]:
    mask = rng.random(shape) < 0.75
    mask.flat[0] = True
    return {"weight": uniform(rng, 0.5, 2.0, *shape), "where": mask}


def until(draw: Callable[[], Any], ok: Callable[[Any], Any]) -> Any:
    """The first ``draw()`` for which ``ok`` holds (used to keep inputs off kinks)."""
    for _ in range(1000):
        value = draw()
        if bool(ok(value)):
            return value
    raise RuntimeError("could not draw inputs away from the kinks")


# The families' cases register themselves on import.
from . import cases_classification, cases_embedding, cases_regression  # noqa: E402, F401
