"""Conformance cases of the metric, ranking, segmentation and distribution losses."""

from __future__ import annotations

from typing import Any

import numpy as np

from .inputs import Case, bits, inputs, labels, normal, signs, softmax, uniform, until

# ------------------------------------------------------------------ metric / ranking


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum((a - b) ** 2, axis=-1))


@inputs("contrastive")
def _contrastive(rng: np.random.Generator) -> list[Case]:
    x1, x2 = until(
        lambda: (normal(rng, 5, 3), normal(rng, 5, 3)),
        lambda p: np.all(np.abs(_distance(*p) - 2.0) > 0.1),
    )
    return [
        Case("margin=2", (x1, x2, bits(rng, 5)), {"margin": 2.0, "weight": uniform(rng, 0.5, 2, 5)})
    ]


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / np.sqrt(np.sum(a * a, axis=-1) * np.sum(b * b, axis=-1))


@inputs("cosine_embedding")
def _cosine_embedding(rng: np.random.Generator) -> list[Case]:
    x1, x2 = until(
        lambda: (normal(rng, 6, 3), normal(rng, 6, 3)),
        lambda p: np.all(np.abs(_cosine(*p) - 0.2) > 0.05),
    )
    return [Case("margin=0.2", (x1, x2, signs(rng, 6)), {"margin": 0.2})]


@inputs("margin_ranking")
def _margin_ranking(rng: np.random.Generator) -> list[Case]:
    def ok(c: tuple[np.ndarray, ...]) -> bool:
        return bool(np.all(np.abs(-c[2] * (c[0] - c[1]) + 0.1) > 0.05))

    x1, x2, y = until(lambda: (normal(rng, 7), normal(rng, 7), signs(rng, 7)), ok)
    return [Case("margin=0.1", (x1, x2, y), {"margin": 0.1})]


@inputs("hinge_embedding")
def _hinge_embedding(rng: np.random.Generator) -> list[Case]:
    x = until(lambda: uniform(rng, 0.0, 2.0, 7), lambda v: np.all(np.abs(v - 1.0) > 0.05))
    return [Case("margin=1", (x, signs(rng, 7)), {"margin": 1.0})]


@inputs("triplet_margin")
def _triplet_margin(rng: np.random.Generator) -> list[Case]:
    def ok(t: tuple[np.ndarray, ...]) -> bool:
        a, p, n = t
        near = _distance(a, p) - np.minimum(_distance(a, n), _distance(p, n)) + 1.0
        return bool(
            np.all(np.abs(_distance(a, p) - _distance(a, n) + 1.0) > 0.05)
            and np.all(np.abs(near) > 0.05)
        )

    a, p, n = until(lambda: (normal(rng, 5, 3), normal(rng, 5, 3), normal(rng, 5, 3)), ok)
    return [
        Case("p=2", (a, p, n)),
        Case("p=1, swap", (a, p, n), {"p": 1.0, "swap": True}),
    ]


@inputs("ntxent")
def _ntxent(rng: np.random.Generator) -> list[Case]:
    groups = np.array([0, 0, 1, 1, 2, 2], dtype=np.int64)
    return [Case("T=0.5", (normal(rng, 6, 4), groups), {"temperature": 0.5})]


# ---------------------------------------------------------------------- segmentation


def _one_hot(target: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[target]


@inputs("dice", "jaccard")
def _dice(rng: np.random.Generator) -> list[Case]:
    logits = normal(rng, 2, 5, 3)
    target = labels(rng, 3, 2, 5)
    return [
        Case("probabilities, labels", (softmax(logits), target)),
        Case(
            "logits, one-hot, weight",
            (logits, _one_hot(target, 3)),
            {"from_logits": True, "weight": uniform(rng, 0.5, 2, 3)},
        ),
    ]


@inputs("tversky")
def _tversky(rng: np.random.Generator) -> list[Case]:
    logits = normal(rng, 2, 5, 3)
    target = labels(rng, 3, 2, 5)
    return [
        Case(
            "alpha=0.3, beta=0.7, logits",
            (logits, _one_hot(target, 3)),
            {"alpha": 0.3, "beta": 0.7, "from_logits": True},
        ),
        Case(
            "focal gamma=1.5", (softmax(logits), target), {"alpha": 0.3, "beta": 0.7, "gamma": 1.5}
        ),
    ]


@inputs("generalized_dice")
def _generalized_dice(rng: np.random.Generator) -> list[Case]:
    target = labels(rng, 3, 2, 6)
    target[0, :] = np.array([0, 0, 1, 1, 0, 1])  # class 2 absent from sample 0
    return [Case("probabilities, labels", (softmax(normal(rng, 2, 6, 3)), target))]


# ---------------------------------------------------------------------- distribution


@inputs("kl_div")
def _kl_div(rng: np.random.Generator) -> list[Case]:
    log_p = np.log(softmax(normal(rng, 4, 5)))
    q = softmax(normal(rng, 4, 5))
    return [
        Case("batchmean", (log_p, q), {"reduction": "batchmean"}),
        Case("log_target", (log_p, np.log(q)), {"log_target": True}),
    ]


@inputs("js_div")
def _js_div(rng: np.random.Generator) -> list[Case]:
    return [Case("probabilities", (softmax(normal(rng, 4, 5)), softmax(normal(rng, 4, 5))))]


@inputs("cosine_similarity_loss")
def _cosine_similarity(rng: np.random.Generator) -> list[Case]:
    options: dict[str, Any] = {}
    return [Case("plain", (normal(rng, 4, 5), normal(rng, 4, 5)), options)]
