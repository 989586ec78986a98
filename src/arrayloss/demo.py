"""``python -m arrayloss demo``: the same two training loops on every installed backend.

1. A softmax classifier on scikit-learn's bundled digits (8x8 images, 10 classes),
   trained by full-batch gradient descent with ``al.value_and_grad(al.cross_entropy)``:
   the loss's gradient with respect to the logits comes from arrayloss's table and is
   pulled back through ``logits = X @ W + b`` by hand (no autodiff framework needed).
2. A linear regression on the diabetes data with ``al.value_and_grad(al.huber)``.

Each runs on every target (NumPy, array-api-strict, JAX, PyTorch, Dask; CuPy and JAX or
PyTorch on a GPU when present) from the same float64 starting point, so the loss curves
must coincide; the summary gives the final loss, the held-out accuracy (R² for the
regression), the iterations, the time and the largest difference from NumPy's curve.
The plots (matplotlib, Agg) go to the output folder.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Run", "main", "train"]

_NEEDS = (("sklearn", "scikit-learn"), ("rich", "rich"), ("matplotlib", "matplotlib"))


@dataclass
class Task:
    """A dataset, a model and its gradient-descent settings."""

    name: str
    title: str
    metric: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int  # 0 for regression
    learning_rate: float
    iterations: int


@dataclass
class Run:
    """One task trained on one target."""

    task: str
    target: str
    losses: list[float] = field(default_factory=list)
    metric: float = math.nan
    seconds: float = 0.0
    step_seconds: list[float] = field(default_factory=list)
    params: list[np.ndarray] = field(default_factory=list)
    error: str | None = None


def _split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(0.8 * len(x))
    train, test = order[:cut], order[cut:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (x[train] - mean) / std, y[train], (x[test] - mean) / std, y[test]


def load_tasks(quick: bool) -> list[Task]:
    from sklearn.datasets import load_diabetes, load_digits

    digits = load_digits()
    xd, yd, xdt, ydt = _split(digits.data.astype(np.float64), digits.target.astype(np.int64))
    diabetes = load_diabetes()
    target = diabetes.target.astype(np.float64)
    target = (target - target.mean()) / target.std()
    xr, yr, xrt, yrt = _split(diabetes.data.astype(np.float64), target)
    return [
        Task("digits", "softmax classifier on digits (al.cross_entropy)", "accuracy",
             xd, yd, xdt, ydt, 10, 0.5, 12 if quick else 150),
        Task("diabetes", "linear regression on diabetes (al.huber)", "R²",
             xr, yr, xrt, yrt, 0, 0.4, 12 if quick else 300),
    ]  # fmt: skip


def _step_function(task: Task, xp: Any, backend: str) -> Callable[..., Any]:
    import arrayloss as al

    lr = task.learning_rate
    if task.classes:
        value_and_grad = al.value_and_grad(al.cross_entropy)

        def step(w: Any, b: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
            loss, g = value_and_grad(x @ w + b, y)  # g: d loss / d logits, (N, C)
            return w - lr * (x.T @ g), b - lr * xp.sum(g, axis=0), loss

    else:
        value_and_grad = al.value_and_grad(al.huber)

        def step(w: Any, b: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
            loss, g = value_and_grad(x @ w + b, y, delta=1.0)  # g: d loss / d pred, (N,)
            return w - lr * (g @ x), b - lr * xp.sum(g), loss

    if backend == "jax":
        import jax

        return jax.jit(step)
    return step


def train(task: Task, target: Any, on_step: Callable[[], None] | None = None) -> Run:
    """Train ``task`` on ``target`` (a :class:`arrayloss._targets.Target`)."""
    from . import _dispatch
    from ._targets import to_numpy, to_target

    run = Run(task.name, target.label)
    xp = _dispatch.get_namespace(target.backend)
    features = task.x_train.shape[1]
    w0 = np.zeros((features, task.classes) if task.classes else (features,))
    b0 = np.zeros((task.classes,) if task.classes else ())
    w, b = to_target(w0, target), to_target(b0, target)
    x, y = to_target(task.x_train, target), to_target(task.y_train, target)
    step = _step_function(task, xp, target.backend)
    start = time.perf_counter()
    for _ in range(task.iterations):
        t0 = time.perf_counter()
        w, b, loss = step(w, b, x, y)
        if target.backend == "dask":
            import dask

            w, b, loss = dask.persist(w, b, loss)
        run.losses.append(float(to_numpy(loss)))
        run.step_seconds.append(time.perf_counter() - t0)
        if on_step is not None:
            on_step()
    run.seconds = time.perf_counter() - start
    run.params = [to_numpy(w), to_numpy(b)]
    scores = task.x_test @ run.params[0] + run.params[1]
    if task.classes:
        run.metric = float(np.mean(np.argmax(scores, axis=1) == task.y_test))
    else:
        residual = np.sum((task.y_test - scores) ** 2)
        run.metric = float(1 - residual / np.sum((task.y_test - task.y_test.mean()) ** 2))
    return run


def _max_difference(runs: list[Run], baseline: Run | None) -> dict[str, float]:
    """Largest |loss_b(i) - loss_numpy(i)| over iterations, per target."""
    if baseline is None:
        return {}
    ref = np.asarray(baseline.losses)
    out = {}
    for run in runs:
        if run.error is None and len(run.losses) == len(ref):
            out[run.target] = float(np.max(np.abs(np.asarray(run.losses) - ref)))
    return out


def _check_dependencies() -> str | None:
    missing = [dist for module, dist in _NEEDS if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    return (
        f"the demo needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
        'installed; install the demo extra: pip install "arrayloss[demo]"'
    )


def main(
    *,
    quick: bool = False,
    output: str | Path = "demo-output",
    backends: Sequence[str] | None = None,
) -> int:
    """Run the demo; returns the exit status (2 when a dependency is missing)."""
    problem = _check_dependencies()
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    import arrayloss as al

    from ._targets import select_targets
    from .conformance.runner import _enable_jax_x64

    try:
        targets = select_targets(backends)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _enable_jax_x64()
    tasks = load_tasks(quick)
    if not hasattr(al, "cross_entropy"):
        print(
            "note: al.cross_entropy is not in this build; skipping the digits task", file=sys.stderr
        )
        tasks = [t for t in tasks if t.classes == 0]
    runs = _train_all(tasks, targets)
    _summary(tasks, runs)
    from .demo_plots import plot_all

    out = Path(output)
    paths = plot_all(tasks, runs, out)
    for path in paths:
        print(f"wrote {path}")  # plain print: paths stay whole, never wrapped
    failed = [r for r in runs if r.error]
    return 1 if failed else 0


def _train_all(tasks: list[Task], targets: list[Any]) -> list[Run]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    runs: list[Run] = []
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as progress:
        bars = {
            (task.name, t.label): progress.add_task(
                f"{task.name} · {t.label}", total=task.iterations, start=False
            )
            for task in tasks
            for t in targets
        }
        for task in tasks:
            for t in targets:
                bar = bars[(task.name, t.label)]
                progress.start_task(bar)  # the elapsed time is this backend's own
                try:
                    run = train(task, t, functools.partial(progress.advance, bar))
                except Exception as exc:  # one backend failing must not hide the others
                    run = Run(task.name, t.label, error=f"{type(exc).__name__}: {exc}")
                progress.stop_task(bar)
                runs.append(run)
    return runs


def _summary(tasks: list[Task], runs: list[Run]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="arrayloss demo: the same model on every backend", title_justify="left")
    for column in (
        "task",
        "backend",
        "final loss",
        "acc./R²",
        "iters",
        "time s",
        "ms/it*",
        "max Δ numpy",
    ):
        table.add_column(column, justify="left" if column in ("task", "backend") else "right")
    for task in tasks:
        mine = [r for r in runs if r.task == task.name]
        baseline = next((r for r in mine if r.target == "numpy" and r.error is None), None)
        diffs = _max_difference(mine, baseline)
        for run in mine:
            if run.error:
                table.add_row(
                    task.name, run.target, f"[red]{run.error[:60]}[/red]", "", "", "", "", ""
                )
                continue
            steady = run.step_seconds[1:] or run.step_seconds
            table.add_row(
                task.name,
                run.target,
                f"{run.losses[-1]:.6f}",
                f"{run.metric:.3f}",
                str(len(run.losses)),
                f"{run.seconds:.2f}",
                f"{1000 * float(np.median(steady)):.2f}",
                f"{diffs[run.target]:.1e}" if run.target in diffs else "-",
            )
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a log file need not wrap at 80 columns
    console.print(table)
    console.print(
        "acc./R²: held-out accuracy (digits) or R² (diabetes); ms/it: median time per iteration "
        "after the first (which includes JAX's compilation); max Δ numpy: largest |loss - "
        "NumPy's loss| over the iterations",
        style="dim",
    )
