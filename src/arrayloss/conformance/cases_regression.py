"""Conformance cases of the regression losses (see :mod:`.inputs`)."""

from __future__ import annotations

import numpy as np

from .inputs import Case, inputs, normal, pair_away_from, uniform, weight_and_mask

# -------------------------------------------------------------------- regression


@inputs("mse", "rmse", "mae", "log_cosh")
def _regression(rng: np.random.Generator) -> list[Case]:
    pred, target = pair_away_from(rng, (0.0,), 4, 3)
    return [
        Case("plain", (pred, target)),
        Case("weight, where", (pred, target), weight_and_mask(rng, 4, 3)),
    ]


@inputs("huber")
def _huber(rng: np.random.Generator) -> list[Case]:
    pred, target = pair_away_from(rng, (0.7,), 4, 3)
    return [
        Case("delta=0.7", (pred, target), {"delta": 0.7}),
        Case(
            "delta=0.7, weight",
            (pred, target),
            {"delta": 0.7, "weight": uniform(rng, 0.5, 2, 4, 3)},
        ),
    ]


@inputs("smooth_l1")
def _smooth_l1(rng: np.random.Generator) -> list[Case]:
    pred, target = pair_away_from(rng, (0.6,), 4, 3)
    return [Case("beta=0.6", (pred, target), {"beta": 0.6})]


@inputs("msle")
def _msle(rng: np.random.Generator) -> list[Case]:
    return [Case("positive", (uniform(rng, 0.1, 3, 4, 3), uniform(rng, 0.1, 3, 4, 3)))]


@inputs("mape")
def _mape(rng: np.random.Generator) -> list[Case]:
    pred, target = pair_away_from(rng, (0.0,), 4, 3)
    target = np.where(np.abs(target) < 0.2, 0.5, target)
    return [
        Case("plain", (pred, target)),
        Case("weight", (pred, target), {"weight": uniform(rng, 0.5, 2, 4, 3)}),
    ]


@inputs("quantile")
def _quantile(rng: np.random.Generator) -> list[Case]:
    pred, target = pair_away_from(rng, (0.0,), 4, 3)
    return [Case("q=0.3", (pred, target), {"q": 0.3})]


@inputs("poisson_nll")
def _poisson_nll(rng: np.random.Generator) -> list[Case]:
    counts = rng.poisson(2.0, (4, 3)).astype(np.float64)
    return [
        Case("log_input", (normal(rng, 4, 3), counts)),
        Case(
            "rate, full", (uniform(rng, 0.2, 3, 4, 3), counts), {"log_input": False, "full": True}
        ),
    ]


@inputs("gaussian_nll")
def _gaussian_nll(rng: np.random.Generator) -> list[Case]:
    pred, target = normal(rng, 4, 3), normal(rng, 4, 3)
    return [
        Case("full var", (pred, target, uniform(rng, 0.5, 2, 4, 3))),
        Case("var per row, full", (pred, target, uniform(rng, 0.5, 2, 4)), {"full": True}),
    ]


@inputs("tweedie_deviance")
def _tweedie(rng: np.random.Generator) -> list[Case]:
    pred = uniform(rng, 0.3, 3, 4, 3)
    return [
        Case("power=1.5", (pred, rng.poisson(1.5, (4, 3)).astype(np.float64)), {"power": 1.5}),
        Case("power=2", (pred, uniform(rng, 0.3, 3, 4, 3)), {"power": 2.0}),
    ]
