"""Issue 8's CPU target: linear_cross_entropy against materialise-then-cross_entropy.

8192 tokens x 1024 hidden x 32,000 vocabulary, float32, value + gradients of hidden and
weight. Reports wall time (best of 2) and tracemalloc peak memory beyond the two
gradients, as a fraction of the materialised logits.

    python benchmarks/large_vocab.py [N H V]
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np

import arrayloss as al


def main() -> None:
    n, h_size, v = (int(a) for a in sys.argv[1:4]) if len(sys.argv) > 3 else (8192, 1024, 32000)
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((n, h_size), dtype=np.float32) * 0.1
    weight = rng.standard_normal((v, h_size), dtype=np.float32) * 0.1
    target = rng.integers(0, v, n)
    logit_bytes = n * v * 4
    outputs = (n * h_size + v * h_size) * 4

    def materialised() -> object:
        logits = hidden @ weight.T
        value, grad = al.value_and_grad(al.cross_entropy)(logits, target)
        del logits
        return value, grad @ weight, grad.T @ hidden

    def chunked() -> object:
        return al.value_and_grad(al.linear_cross_entropy, wrt=("hidden", "weight"))(
            hidden, weight, target
        )

    best: dict[str, float] = {}
    for name, fn in [("linear_cross_entropy", chunked), ("materialised", materialised)] * 2:
        tracemalloc.start()
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        best[name] = min(best.get(name, elapsed), elapsed)
        extra = peak - outputs
        print(
            f"{name:22s} {elapsed:7.2f} s  extra memory {extra / 2**20:6.0f} MiB "
            f"= {extra / logit_bytes:6.1%} of the {logit_bytes / 2**20:.0f} MiB logits",
            flush=True,
        )
    ratio = best["linear_cross_entropy"] / best["materialised"]
    print(f"time ratio (best of 2): {ratio:.2f}x (target <= 1.3x); memory target <= 10 %")


if __name__ == "__main__":
    main()
