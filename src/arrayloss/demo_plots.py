"""The demo's PNG plots (matplotlib, Agg backend): loss curves and time per backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_all"]

# Distinct line styles and markers, so coinciding curves stay visible on top of each other.
_STYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 3)))
_MARKERS = ("o", "s", "^", "v", "D", "x", "+", "*")
# |difference| shown at this floor on the log axis when the curves agree exactly.
_FLOOR = 1e-18


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_loss_curves(task: Any, runs: list[Any], path: Path) -> Path:
    """Loss per iteration for every backend (top) and its distance from NumPy's (bottom)."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(8, 7),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 2]},
        constrained_layout=True,
    )
    good = [r for r in runs if r.error is None and r.losses]
    baseline = next((r for r in good if r.target == "numpy"), None)
    every = max(1, len(good[0].losses) // 10) if good else 1
    for i, run in enumerate(good):
        steps = np.arange(1, len(run.losses) + 1)
        style = {
            "color": f"C{i % 10}",
            "linestyle": _STYLES[i % len(_STYLES)],
            "marker": _MARKERS[i % len(_MARKERS)],
            "markevery": (i % every, every),
        }
        top.plot(
            steps, run.losses, label=run.target, linewidth=1.6, markersize=5, alpha=0.9, **style
        )
        if baseline is not None and run is not baseline and len(run.losses) == len(baseline.losses):
            diff = np.abs(np.asarray(run.losses) - np.asarray(baseline.losses))
            bottom.plot(
                steps,
                np.maximum(diff, _FLOOR),
                label=run.target,
                linewidth=1.4,
                markersize=4,
                **style,
            )
    top.set_title(task.title)
    top.set_ylabel("training loss")
    top.grid(True, which="both", alpha=0.3)
    top.legend(title="backend")
    bottom.set_yscale("log")
    bottom.set_ylim(_FLOOR / 3, 1e-6)
    bottom.set_xlabel("gradient-descent iteration")
    bottom.set_ylabel("|loss − NumPy loss|")
    bottom.set_title(
        f"distance from NumPy's curve (exact agreement drawn at {_FLOOR:.0e})", fontsize=10
    )
    bottom.grid(True, which="both", alpha=0.3)
    if bottom.get_legend_handles_labels()[0]:
        bottom.legend(title="backend", fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_times(tasks: list[Any], runs: list[Any], path: Path) -> Path:
    """Total training time and steady time per iteration, per backend and task."""
    plt = _pyplot()
    labels = list(dict.fromkeys(r.target for r in runs))
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.6 * len(labels) + 2.5), constrained_layout=True)
    height = 0.8 / max(1, len(tasks))
    y = np.arange(len(labels))
    for j, task in enumerate(tasks):
        by_label = {r.target: r for r in runs if r.task == task.name and r.error is None}
        total = [by_label[lab].seconds if lab in by_label else 0.0 for lab in labels]
        steady = [
            1000 * float(np.median(by_label[lab].step_seconds[1:] or by_label[lab].step_seconds))
            if lab in by_label
            else 0.0
            for lab in labels
        ]
        offset = (j - (len(tasks) - 1) / 2) * height
        for ax, values, fmt in ((axes[0], total, "{:.2f} s"), (axes[1], steady, "{:.2f} ms")):
            bars = ax.barh(
                y + offset, values, height=height, label=f"{task.name} ({task.iterations} it.)"
            )
            ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
    for ax, title in (
        (axes[0], "total training time (includes JAX compilation)"),
        (axes[1], "median time per iteration after the first"),
    ):
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_xscale("log")
        ax.margins(x=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_xlabel("seconds (log scale)")
    axes[1].set_xlabel("milliseconds (log scale)")
    fig.suptitle("arrayloss demo: time per backend")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(tasks: list[Any], runs: list[Any], output: Path) -> list[Path]:
    """Write ``<task>_loss.png`` per task and ``time_per_backend.png``; return the paths."""
    output.mkdir(parents=True, exist_ok=True)
    paths = [
        plot_loss_curves(
            task, [r for r in runs if r.task == task.name], output / f"{task.name}_loss.png"
        )
        for task in tasks
    ]
    paths.append(plot_times(tasks, runs, output / "time_per_backend.png"))
    return paths
