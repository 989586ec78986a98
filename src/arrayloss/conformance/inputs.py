"""Small deterministic inputs for every loss, shared by ``python -m arrayloss check`` and
``tests/test_conformance.py``.

Each loss (by its spec name; aliases share it) has a factory returning a few
:class:`Case`: positional arrays in NumPy float64 (floating data) or int64 (class
indices), and keyword options (``weight=``, ``where=`` and the loss's own). Inputs stay
away from kinks (``|d| = delta`` ...), so float32 and float64 take the same branch, and
exercise the options whose denominators differ between libraries. A loss without a
factory here is reported by the checker as a failure ("no conformance inputs").
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
    def decorate(factory: Factory) -> Factory:
        for name in names:
            INPUTS[name] = factory
        return factory

    return decorate


# ------------------------------------------------------------------ building blocks


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def _uniform(rng: np.random.Generator, low: float, high: float, *shape: int) -> np.ndarray:
    return rng.uniform(low, high, shape)


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _labels(rng: np.random.Generator, classes: int, *shape: int) -> np.ndarray:
    return rng.integers(0, classes, shape).astype(np.int64)


def _signs(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def _bits(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return (rng.random(shape) < 0.5).astype(np.float64)


def _pair_away_from(rng: np.random.Generator, kinks: tuple[float, ...], *shape: int) -> tuple[np.ndarray, np.ndarray]:
    """``pred, target`` whose difference keeps 0.05 away from ``±kink`` for each kink."""
    target = _normal(rng, *shape)
    d = _normal(rng, *shape)
    for kink in kinks:
        near = np.abs(np.abs(d) - kink) < 0.05
        d = np.where(near, d + 0.1 * np.sign(d + (d == 0)), d)
    return target + d, target


def _weight_and_mask(rng: np.random.Generator, *shape: int) -> dict[str, Any]:
    mask = rng.random(shape) < 0.75
    mask.flat[0] = True
    return {"weight": _uniform(rng, 0.5, 2.0, *shape), "where": mask}


# -------------------------------------------------------------------- regression


@inputs("mse", "rmse", "mae", "log_cosh")
def _regression(rng: np.random.Generator) -> list[Case]:
    pred, target = _pair_away_from(rng, (0.0,), 4, 3)
    return [
        Case("plain", (pred, target)),
        Case("weight, where", (pred, target), _weight_and_mask(rng, 4, 3)),
    ]


@inputs("huber")
def _huber(rng: np.random.Generator) -> list[Case]:
    pred, target = _pair_away_from(rng, (0.7,), 4, 3)
    return [
        Case("delta=0.7", (pred, target), {"delta": 0.7}),
        Case("delta=0.7, weight", (pred, target), {"delta": 0.7, "weight": _uniform(rng, 0.5, 2, 4, 3)}),
    ]


@inputs("smooth_l1")
def _smooth_l1(rng: np.random.Generator) -> list[Case]:
    pred, target = _pair_away_from(rng, (0.6,), 4, 3)
    return [Case("beta=0.6", (pred, target), {"beta": 0.6})]


@inputs("msle")
def _msle(rng: np.random.Generator) -> list[Case]:
    return [Case("positive", (_uniform(rng, 0.1, 3, 4, 3), _uniform(rng, 0.1, 3, 4, 3)))]


@inputs("mape")
def _mape(rng: np.random.Generator) -> list[Case]:
    pred, target = _pair_away_from(rng, (0.0,), 4, 3)
    target = np.where(np.abs(target) < 0.2, 0.5, target)
    return [Case("plain", (pred, target)), Case("weight", (pred, target), {"weight": _uniform(rng, 0.5, 2, 4, 3)})]


@inputs("quantile")
def _quantile(rng: np.random.Generator) -> list[Case]:
    pred, target = _pair_away_from(rng, (0.0,), 4, 3)
    return [Case("q=0.3", (pred, target), {"q": 0.3})]


@inputs("poisson_nll")
def _poisson_nll(rng: np.random.Generator) -> list[Case]:
    counts = rng.poisson(2.0, (4, 3)).astype(np.float64)
    return [
        Case("log_input", (_normal(rng, 4, 3), counts)),
        Case("rate, full", (_uniform(rng, 0.2, 3, 4, 3), counts), {"log_input": False, "full": True}),
    ]


@inputs("gaussian_nll")
def _gaussian_nll(rng: np.random.Generator) -> list[Case]:
    pred, target = _normal(rng, 4, 3), _normal(rng, 4, 3)
    return [
        Case("full var", (pred, target, _uniform(rng, 0.5, 2, 4, 3))),
        Case("var per row, full", (pred, target, _uniform(rng, 0.5, 2, 4)), {"full": True}),
    ]


@inputs("tweedie_deviance")
def _tweedie(rng: np.random.Generator) -> list[Case]:
    pred = _uniform(rng, 0.3, 3, 4, 3)
    return [
        Case("power=1.5", (pred, rng.poisson(1.5, (4, 3)).astype(np.float64)), {"power": 1.5}),
        Case("power=2", (pred, _uniform(rng, 0.3, 3, 4, 3)), {"power": 2.0}),
    ]
