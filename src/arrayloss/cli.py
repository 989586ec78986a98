"""``python -m arrayloss``: info | check | demo | bench | docs.

* ``info``: installed backends, versions and devices, the losses, the fast paths.
* ``check``: the cross-backend conformance report (:mod:`arrayloss.conformance`); exit
  status 1 on any failing cell, and ``--json`` prints only the JSON document on stdout
  (the table and the progress bar go to stderr).
* ``demo``: trains two small models on every backend (:mod:`arrayloss.demo`).
* ``bench``: the benchmark (``arrayloss.benchmark.main``), its options passed through.
* ``docs``: regenerates the loss tables of ``docs/losses.md`` and ``README.md``.

Tables and progress bars use ``rich`` when it is installed and plain text otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m arrayloss",
        description="arrayloss: loss functions for every array library, with their gradients.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{info,check,demo,bench,docs}")
    info = sub.add_parser("info", help="installed backends, devices, losses and fast paths")
    info.add_argument("--json", action="store_true", help="print a JSON document instead")

    check = sub.add_parser("check", help="cross-backend conformance report")
    check.add_argument(
        "--backend",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="a backend or target label (numpy, jax, jax:gpu, torch:cuda ...); repeatable; "
        "default: every one installed",
    )
    check.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    check.add_argument(
        "--loss",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="check only these losses",
    )
    check.add_argument("--json", action="store_true", help="print only the JSON report on stdout")
    check.add_argument(
        "--no-references",
        action="store_true",
        help="skip the PyTorch/optax/scikit-learn comparison",
    )

    demo = sub.add_parser("demo", help="train two small models on every installed backend")
    demo.add_argument("--quick", action="store_true", help="a few iterations only (seconds)")
    demo.add_argument(
        "--output", default="demo-output", metavar="DIR", help="folder for the PNG plots"
    )
    demo.add_argument(
        "--backend",
        action="extend",
        nargs="+",
        metavar="NAME",
        help="run only on these backends",
    )

    sub.add_parser(
        "bench", help="benchmark (options are passed to arrayloss.benchmark)", add_help=False
    )

    docs = sub.add_parser("docs", help="regenerate the loss tables in docs/losses.md and README.md")
    docs.add_argument(
        "--check", action="store_true", help="only report whether they are up to date"
    )
    docs.add_argument("--root", default=".", help="the repository root (default: .)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["bench"]:
        return _bench(args_list[1:])
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "info":
        return _info(args.json)
    if args.command == "check":
        return _check(args)
    if args.command == "demo":
        from . import demo

        return demo.main(quick=args.quick, output=args.output, backends=args.backend)
    return _docs(args.root, args.check)


# ------------------------------------------------------------------------- output


def _rich(stderr: bool = False) -> Any:
    """A rich Console, or None when rich is not installed."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(stderr=stderr)


def _print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    stderr: bool = False,
    wide: bool = False,
) -> None:
    """A table with rich (markup allowed in cells), or aligned plain text.

    ``wide``: when the output is not a terminal, do not squeeze the table into 80 columns.
    """
    console = _rich(stderr)
    if console is not None:
        from rich.table import Table

        if wide and not console.is_terminal:
            console.width = max(console.width, 200)
        table = Table(title=title, title_justify="left")
        for i, column in enumerate(columns):
            table.add_column(column, no_wrap=i == 0)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    import re

    def plain(s: str) -> str:
        return re.sub(r"\[/?[a-z ]*\]", "", s)

    cells = [list(columns), *([plain(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out = sys.stderr if stderr else sys.stdout
    print(title, file=out)
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def _say(text: str, *, stderr: bool = False) -> None:
    console = _rich(stderr)
    if console is not None:
        console.print(text, highlight=False)
    else:
        import re

        print(re.sub(r"\[/?[a-z ]*\]", "", text), file=sys.stderr if stderr else sys.stdout)


# --------------------------------------------------------------------------- info


def _info_data() -> dict[str, Any]:
    import importlib.metadata
    import platform

    from . import __version__, _dispatch, fast
    from ._spec import get_spec, registry

    records = registry()
    specs = {get_spec(n).name for n in records}
    families: dict[str, int] = {}
    for name in specs:
        family = records[name].family
        families[family] = families.get(family, 0) + 1
    paths = fast.registered()
    optional: dict[str, str | None] = {}
    for dist in ("rich", "matplotlib", "scikit-learn", "optax"):
        try:
            optional[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            optional[dist] = None
    return {
        "arrayloss": __version__,
        "python": platform.python_version(),
        "array_api_compat": importlib.metadata.version("array-api-compat"),
        "backends": [
            {
                "name": b.name,
                "version": b.version,
                "devices": list(b.devices),
                "fast_paths": sorted(loss for loss, backend in paths if backend == b.name),
            }
            for b in _dispatch.backends()
        ],
        "missing_backends": [
            n for n in _dispatch.BACKEND_NAMES if n not in {b.name for b in _dispatch.backends()}
        ],
        "losses": len(specs),
        "aliases": sorted(set(records) - specs),
        "families": dict(sorted(families.items())),
        "fast_paths_enabled": not fast.disabled(),
        "optional": optional,
    }


def _info(as_json: bool) -> int:
    data = _info_data()
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    _say(
        f"[bold]arrayloss {data['arrayloss']}[/bold]  (Python {data['python']}, "
        f"array-api-compat {data['array_api_compat']})"
    )
    rows = [
        [b["name"], b["version"], ", ".join(b["devices"]), ", ".join(b["fast_paths"]) or "-"]
        for b in data["backends"]
    ]
    _print_table("Installed backends", ["backend", "version", "devices", "fast paths for"], rows)
    if data["missing_backends"]:
        _say(f"not installed: {', '.join(data['missing_backends'])}")
    families = ", ".join(f"{k} {v}" for k, v in data["families"].items())
    aliases = f" (+ aliases {', '.join(data['aliases'])})" if data["aliases"] else ""
    _say(f"losses: {data['losses']}{aliases}; by family: {families}")
    if data["fast_paths_enabled"]:
        _say("fast paths: enabled (ARRAYLOSS_DISABLE_FASTPATHS=1 turns them off)")
    else:
        _say("fast paths: disabled by ARRAYLOSS_DISABLE_FASTPATHS")
    optional = ", ".join(f"{k} {v or '[red]missing[/red]'}" for k, v in data["optional"].items())
    _say(f"optional: {optional}")
    return 0


# -------------------------------------------------------------------------- check


def _number(x: float | None) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 else f"{x:.0e}"


def _cell(m: Any, tolerance: float, suffix: str = "") -> str:
    if m.skipped:
        return "[dim]n/a[/dim]"
    if m.error:
        return "[red]✗ error[/red]"
    mark = "[green]✓[/green]" if m.passed(tolerance) else "[red]✗[/red]"
    grad = max(m.grad_errors.values(), default=None)
    return f"{mark} {_number(m.value_error)} {_number(grad)}{suffix}"


def _check(args: argparse.Namespace) -> int:
    from . import conformance
    from ._targets import select_targets

    try:
        targets = select_targets(args.backend)
    except ValueError as exc:
        _say(f"[red]error:[/red] {exc}", stderr=True)
        return 2
    from ._spec import registry

    names = list(registry()) if not args.loss else args.loss
    report = None
    try:
        report = _run_check(conformance, targets, args, names)
    except ValueError as exc:
        _say(f"[red]error:[/red] {exc}", stderr=True)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    _render_check(report, stderr=args.json)
    return 0 if report.ok else 1


def _run_check(conformance: Any, targets: Any, args: argparse.Namespace, names: list[str]) -> Any:
    kwargs = {"dtype": args.dtype, "losses": names, "references": not args.no_references}
    try:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
    except ImportError:
        return conformance.check(targets, **kwargs)
    from rich.console import Console

    from ._spec import get_spec

    total = len({get_spec(n).name for n in names})
    columns = (
        TextColumn("checking {task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=total)
        return conformance.check(
            targets, progress=lambda name: bar.update(task, advance=1, description=name), **kwargs
        )


def _render_check(report: Any, *, stderr: bool) -> None:
    from .conformance import TOLERANCES

    labels = [t.label for t in report.targets]
    rows = []
    for name in report.losses:
        ref = report.references.get(name)
        library = "" if ref is None else report.reference_libraries.get(name, "")
        ref_text = "-" if ref is None else _cell(ref[1], TOLERANCES["float64"], f" {library}")
        alias = [a for a, s in report.aliases.items() if s == name]
        shown = name + (f" ({', '.join(alias)})" if alias else "")
        rows.append(
            [
                shown,
                ref_text,
                *(_cell(report.cells[(name, lab)], report.tolerance) for lab in labels),
            ]
        )
    title = f"arrayloss check: {report.dtype} on {len(labels)} backend(s), fast paths {'on' if report.fastpaths else 'off'}"
    _print_table(title, ["loss", "reference", *labels], rows, stderr=stderr, wide=True)
    _say(
        f"[dim]cell: largest relative error of the value, then of the gradients (every "
        f"differentiable argument), against NumPy float64 with fast paths off; pass <= "
        f"{report.tolerance:.1e}. reference: NumPy float64 against the library the loss "
        "reproduces (torch: PyTorch autograd; optax: jax.grad; sklearn, scipy: values only); "
        "pass <= 1e-10. n/a: the loss does not support that backend.[/dim]",
        stderr=stderr,
    )
    failures = report.failures()
    if failures:
        _say(f"[red bold]{len(failures)} failing cell(s):[/red bold]", stderr=stderr)
        for loss, column, reason in failures:
            _say(f"  {loss} on {column}: {reason}", stderr=stderr)
    else:
        _say(
            f"[green bold]all {len(report.losses)} losses agree on {len(labels)} backend(s)[/green bold]",
            stderr=stderr,
        )


# ------------------------------------------------------------------- bench, docs


def _bench(argv: list[str]) -> int:
    """``arrayloss.benchmark.main(argv)``, imported only now (it may pull in heavy peers)."""
    import importlib

    module = f"{__package__}.benchmark"
    try:
        benchmark = importlib.import_module(module)
    except ImportError as exc:
        if exc.name == module:
            _say(
                "the benchmark is not part of this build of arrayloss (no arrayloss.benchmark)",
                stderr=True,
            )
        else:
            _say(f"the benchmark cannot start: {exc}", stderr=True)
        return 2
    bench_main = getattr(benchmark, "main", None)
    if bench_main is None:
        _say("arrayloss.benchmark has no main(argv); the benchmark is not available", stderr=True)
        return 2
    return int(bench_main(argv) or 0)


def _docs(root: str, check_only: bool) -> int:
    from . import docgen

    try:
        stale = docgen.update(root, check=check_only)
    except FileNotFoundError as exc:
        _say(f"[red]error:[/red] {exc}", stderr=True)
        return 2
    if check_only:
        if stale:
            _say(f"out of date: {', '.join(stale)}; run python -m arrayloss docs", stderr=True)
            return 1
        _say("docs are up to date")
        return 0
    _say(f"updated: {', '.join(stale)}" if stale else "docs were already up to date")
    return 0
