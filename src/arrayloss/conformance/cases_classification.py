"""Conformance cases of the classification and large-vocabulary losses."""

from __future__ import annotations

import numpy as np

from .inputs import Case, bits, inputs, labels, normal, signs, softmax, uniform, until


@inputs("cross_entropy")
def _cross_entropy(rng: np.random.Generator) -> list[Case]:
    logits = normal(rng, 6, 4)
    target = labels(rng, 4, 6)
    target[2] = -100  # ignored
    return [
        Case(
            "labels, weight, ignore_index, label_smoothing",
            (logits, target),
            {"weight": uniform(rng, 0.5, 2, 4), "label_smoothing": 0.1},
        ),
        Case(
            "probabilities, temperature=2",
            (logits, softmax(normal(rng, 6, 4))),
            {"temperature": 2.0},
        ),
        Case("axis=1", (normal(rng, 2, 4, 3), labels(rng, 4, 2, 3)), {"axis": 1}),
    ]


@inputs("nll_loss")
def _nll_loss(rng: np.random.Generator) -> list[Case]:
    log_p = np.log(softmax(normal(rng, 6, 4)))
    return [Case("weight", (log_p, labels(rng, 4, 6)), {"weight": uniform(rng, 0.5, 2, 4)})]


@inputs("categorical_cross_entropy")
def _categorical(rng: np.random.Generator) -> list[Case]:
    logits = normal(rng, 5, 4)
    target = softmax(normal(rng, 5, 4))
    return [
        Case("probabilities", (softmax(logits), target)),
        Case("from_logits", (logits, target), {"from_logits": True}),
    ]


@inputs("sparse_categorical_cross_entropy")
def _sparse_categorical(rng: np.random.Generator) -> list[Case]:
    logits = normal(rng, 5, 4)
    target = labels(rng, 4, 5)
    return [
        Case("probabilities", (softmax(logits), target)),
        Case("from_logits", (logits, target), {"from_logits": True}),
    ]


@inputs("binary_cross_entropy")
def _bce(rng: np.random.Generator) -> list[Case]:
    pred = uniform(rng, 0.05, 0.95, 4, 3)
    return [
        Case(
            "soft targets, weight",
            (pred, uniform(rng, 0, 1, 4, 3)),
            {"weight": uniform(rng, 0.5, 2, 4, 3)},
        )
    ]


@inputs("binary_cross_entropy_with_logits")
def _bce_logits(rng: np.random.Generator) -> list[Case]:
    return [
        Case(
            "pos_weight",
            (normal(rng, 4, 3), bits(rng, 4, 3)),
            {"pos_weight": uniform(rng, 0.5, 2, 3)},
        )
    ]


@inputs("sigmoid_focal_loss")
def _sigmoid_focal(rng: np.random.Generator) -> list[Case]:
    return [
        Case(
            "alpha=0.25, gamma=2",
            (normal(rng, 4, 3), bits(rng, 4, 3)),
            {"alpha": 0.25, "gamma": 2.0},
        )
    ]


@inputs("softmax_focal_loss")
def _softmax_focal(rng: np.random.Generator) -> list[Case]:
    return [Case("gamma=2", (normal(rng, 6, 4), labels(rng, 4, 6)), {"gamma": 2.0})]


@inputs("poly1_cross_entropy")
def _poly1(rng: np.random.Generator) -> list[Case]:
    return [Case("epsilon=1", (normal(rng, 6, 4), labels(rng, 4, 6)), {"epsilon": 1.0})]


@inputs("hinge", "squared_hinge", "soft_margin")
def _hinge(rng: np.random.Generator) -> list[Case]:
    pred, target = until(
        lambda: (normal(rng, 4, 3), signs(rng, 4, 3)),
        lambda c: np.all(np.abs(1 - c[0] * c[1]) > 0.05),
    )
    return [Case("labels ±1", (pred, target))]


@inputs("multi_margin")
def _multi_margin(rng: np.random.Generator) -> list[Case]:
    def ok(c: tuple[np.ndarray, np.ndarray]) -> bool:
        x, y = c
        gaps = 1.0 - x[np.arange(len(y)), y][:, None] + x
        return bool(np.all(np.abs(gaps) > 0.05))

    x, y = until(lambda: (normal(rng, 6, 4), labels(rng, 4, 6)), ok)
    return [
        Case("p=1, weight", (x, y), {"weight": uniform(rng, 0.5, 2, 4)}),
        Case("p=2", (x, y), {"p": 2}),
    ]


@inputs("multilabel_soft_margin")
def _multilabel_soft_margin(rng: np.random.Generator) -> list[Case]:
    return [
        Case("weight", (normal(rng, 5, 4), bits(rng, 5, 4)), {"weight": uniform(rng, 0.5, 2, 4)})
    ]


@inputs("chunked_cross_entropy")
def _chunked_cross_entropy(rng: np.random.Generator) -> list[Case]:
    target = labels(rng, 7, 6)
    target[1] = -100
    options = {"class_weight": uniform(rng, 0.5, 2, 7), "label_smoothing": 0.1}
    return [
        Case("class_weight, label_smoothing", (normal(rng, 6, 7), target), options),
        Case("blocks 4x3", (normal(rng, 6, 7), target), {"chunk_size": 4, "vocab_chunk_size": 3}),
    ]


@inputs("linear_cross_entropy")
def _linear_cross_entropy(rng: np.random.Generator) -> list[Case]:
    target = labels(rng, 7, 6)
    target[1] = -100
    hidden, weight, bias = normal(rng, 6, 3), normal(rng, 7, 3), normal(rng, 7)
    return [
        Case(
            "bias, class_weight",
            (hidden, weight, target),
            {"bias": bias, "class_weight": uniform(rng, 0.5, 2, 7)},
        ),
        Case(
            "blocks 4x3, label_smoothing",
            (hidden, weight, target),
            {"chunk_size": 4, "vocab_chunk_size": 3, "label_smoothing": 0.1},
        ),
    ]
