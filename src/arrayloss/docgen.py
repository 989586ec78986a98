"""Generate the loss tables of ``docs/losses.md`` and ``README.md`` from the registry.

``python -m arrayloss docs`` rewrites the text between marker comments and leaves the
hand-written rest alone:

* ``<!-- loss-table:start -->`` ... ``<!-- loss-table:end -->`` in ``README.md`` and
  ``docs/losses.md``: one row per loss (family, arguments, differentiable arguments,
  reductions, backends, jit- and lazy-safety, reference) from :func:`arrayloss.registry`;
* ``<!-- loss-reference:start -->`` ... ``<!-- loss-reference:end -->`` in
  ``docs/losses.md``: one section per loss from its docstring (formula, gradient,
  reference, the ``"mean"`` denominator, options) and its registry record.

``python -m arrayloss docs --check`` (and ``tests/test_docs.py``) fails when the
committed files differ from what the registry generates.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["loss_reference", "loss_table", "readme_table", "replace_between", "update"]

#: Section titles of the families (the ``losses/<module>.py`` names), in display order.
FAMILIES = {
    "regression": "Regression",
    "softmax": "Classification: softmax",
    "categorical": "Classification: Keras-style categorical",
    "softmax_focal": "Classification: softmax focal",
    "binary": "Classification: binary",
    "margin": "Classification: margin",
    "distribution": "Distribution",
    "segmentation": "Segmentation",
    "metric": "Metric learning",
    "ranking": "Ranking",
    "large_vocab": "Large vocabulary",
}

_BACKEND_SHORT = {
    "numpy": "NumPy",
    "array_api_strict": "strict",
    "jax": "JAX",
    "torch": "PyTorch",
    "dask": "Dask",
    "cupy": "CuPy",
}


def _records() -> dict[str, Any]:
    from ._spec import get_spec, registry

    return {name: (record, get_spec(name).name) for name, record in registry().items()}


def _family_order(family: str) -> tuple[int, str]:
    keys = list(FAMILIES)
    return (keys.index(family) if family in keys else len(keys), family)


def _source_line(name: str) -> int:
    from ._spec import public_functions

    try:
        return inspect.getsourcelines(public_functions()[name])[1]
    except (OSError, TypeError):
        return 0


def _ordered() -> list[tuple[str, Any, str | None]]:
    """``(name, record, alias_of)`` grouped by family, in the order of the family's
    module (aliases right after their loss)."""
    rows = []
    for name, (record, spec_name) in _records().items():
        rows.append((name, record, spec_name if spec_name != name else None))
    return sorted(
        rows,
        key=lambda r: (
            _family_order(r[1].family),
            _source_line(r[2] or r[0]),
            r[2] or r[0],
            r[2] is not None,
        ),
    )


_COLUMNS = {
    "loss": "loss",
    "family": "family",
    "args": "arguments (differentiable in **bold**)",
    "reductions": "reductions",
    "backends": "backends",
    "jit": "jit",
    "lazy": "lazy",
    "reference": "reference",
}


def loss_table(*, link_prefix: str = "", columns: tuple[str, ...] = tuple(_COLUMNS)) -> str:
    """The Markdown capability table of every registered loss (``columns`` of ``_COLUMNS``)."""
    lines = [
        "| " + " | ".join(_COLUMNS[c] for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for name, record, alias_of in _ordered():
        if alias_of is not None:
            cells = {
                "loss": f"`{name}`",
                "family": record.family,
                "args": f"alias of [`{alias_of}`]({link_prefix}#{alias_of})",
            }
        else:
            cells = {
                "loss": f"[`{name}`]({link_prefix}#{name})",
                "family": record.family,
                "args": ", ".join(
                    f"**`{a}`**" if a in record.wrt else f"`{a}`" for a in record.args
                ),
                "reductions": ", ".join(record.reductions),
                "backends": ", ".join(_BACKEND_SHORT.get(b, b) for b in record.backends),
                "jit": "yes" if record.jit_safe else "no",
                "lazy": "yes" if record.lazy_safe else "no",
                "reference": _reference(record.reference),
            }
        lines.append("| " + " | ".join(cells.get(c, "") for c in columns) + " |")
    return "\n".join(lines)


def readme_table() -> str:
    """The README's shorter table, linking into ``docs/losses.md``."""
    return loss_table(
        link_prefix="docs/losses.md", columns=("loss", "family", "args", "backends", "reference")
    )


# ------------------------------------------------------------ docstrings -> Markdown


def _inline(text: str) -> str:
    """reST inline markup to Markdown: ``x`` -> `x`, :func:`f` -> a link to f's section,
    :math:`m` -> $m$."""
    text = re.sub(r":math:`([^`]*)`", r"$\1$", text)
    text = re.sub(r":func:`~?(?:arrayloss\.)?(\w+)`", r"[`\1`](#\1)", text)
    text = re.sub(r":(?:func|class|mod|data|attr|meth):`~?(?:arrayloss\.)?([^`]*)`", r"`\1`", text)
    return re.sub(r"``([^`]*)``", r"`\1`", text)


def _reference(text: str) -> str:
    """A reference as code when it is a dotted name (``torch.nn.functional.mse_loss``)."""
    return f"`{text}`" if re.fullmatch(r"[\w.]+", text) else _inline(text)


def _convert(block: str) -> str:
    """A docstring body (dedented) to Markdown; ``.. math::`` blocks become ``$$ ... $$``."""
    out: list[str] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(".. math::"):
            indent = len(line) - len(line.lstrip())
            math = [stripped[len(".. math::") :].strip()]
            i += 1
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                if lines[i].strip():
                    math.append(lines[i].strip())
                i += 1
            out.extend(["", "$$", *[m for m in math if m], "$$", ""])
            continue
        out.append(_inline(line))
        i += 1
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_SECTIONS = ("Args:", "Returns:", "Examples:", "References:", "Raises:")


def _split_docstring(doc: str) -> tuple[str, str, dict[str, str]]:
    """``(summary, body, sections)`` of a Google-style docstring."""
    doc = inspect.cleandoc(doc)
    summary, _, rest = doc.partition("\n")
    sections: dict[str, str] = {}
    body_lines: list[str] = []
    current: list[str] = body_lines
    for line in rest.splitlines():
        if line.strip() in _SECTIONS and not line.startswith(" "):
            current = []
            sections[line.strip()[:-1]] = current  # type: ignore[assignment]
            continue
        current.append(line)
    return (
        summary.strip(),
        "\n".join(body_lines).strip(),
        {k: inspect.cleandoc("\n".join(v)) for k, v in sections.items()},  # type: ignore[arg-type]
    )


def _args_list(text: str) -> str:
    """The ``Args:`` section as a Markdown list (continuation lines joined)."""
    items: list[str] = []
    pending = ""  # argument names running over several lines ("a, b,\n c: ...")
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" ") and ":" not in line and line.rstrip().endswith(","):
            pending += line.strip() + " "
            continue
        if (pending or not line.startswith(" ")) and ":" in line:
            name, _, desc = (pending + line.strip()).partition(":")
            pending = ""
            items.append(f"- {_names(name)}:{_inline(desc)}")
        elif items:
            items[-1] += " " + _inline(line.strip())
    return "\n".join(items)


def _names(names: str) -> str:
    return ", ".join(f"`{n.strip()}`" for n in names.split(",") if n.strip())


def _signature(name: str, fn: Callable[..., Any]) -> str:
    params = []
    seen_kw = False
    sig = inspect.signature(fn)
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not seen_kw:
            params.append("*")
            seen_kw = True
        text = p.name if p.default is p.empty else f"{p.name}={p.default!r}"
        params.append(text)
        if p.kind is p.POSITIONAL_ONLY and (
            list(sig.parameters.values()).index(p) + 1 == len(sig.parameters)
            or list(sig.parameters.values())[list(sig.parameters.values()).index(p) + 1].kind
            is not p.POSITIONAL_ONLY
        ):
            params.append("/")
    return f"al.{name}({', '.join(params)})"


def _section(name: str, record: Any, fn: Callable[..., Any], aliases: list[str]) -> str:
    summary, body, sections = _split_docstring(fn.__doc__ or "")
    wrt = ", ".join(f"`{a}`" for a in record.wrt) or "none"
    backends = ", ".join(_BACKEND_SHORT.get(b, b) for b in record.backends)
    safety = [s for s, ok in (("jit-safe", record.jit_safe), ("lazy-safe", record.lazy_safe)) if ok]
    facts = [
        f"**Reference:** {_reference(record.reference)}",
        f"**Gradient table:** {wrt}",
        f"**Reductions:** {', '.join(record.reductions)}",
        f"**Backends:** {backends}" + (f" ({', '.join(safety)})" if safety else ""),
    ]
    if aliases:
        facts.append(f"**Aliases:** {', '.join(f'`{a}`' for a in aliases)}")
    parts = [
        f'<a id="{name}"></a>',
        f"### `{name}`",
        "",
        f"`{_signature(name, fn)}`",
        "",
        _inline(summary),
        "",
        _convert(body),
        "",
        " · ".join(facts),
    ]
    if "Args" in sections:
        parts += ["", "**Arguments and options**", "", _args_list(sections["Args"])]
    if "Returns" in sections:
        parts += ["", "**Returns:** " + _inline(" ".join(sections["Returns"].split()))]
    if "Examples" in sections:
        parts += ["", "```pycon", sections["Examples"], "```"]
    return "\n".join(parts)


def loss_reference() -> str:
    """One Markdown section per loss, grouped by family, from docstrings and the registry."""
    from ._spec import public_functions

    functions = public_functions()
    rows = _ordered()
    aliases: dict[str, list[str]] = {}
    for name, _, alias_of in rows:
        if alias_of is not None:
            aliases.setdefault(alias_of, []).append(name)
    out: list[str] = []
    family = None
    for name, record, alias_of in rows:
        if alias_of is not None:
            continue
        if record.family != family:
            family = record.family
            out.append(f"## {FAMILIES.get(family, family.replace('_', ' ').title())}")
        out.append(_section(name, record, functions[name], aliases.get(name, [])))
    return "\n\n".join(out)


# ------------------------------------------------------------------ file updates


def replace_between(text: str, marker: str, content: str) -> str:
    """``text`` with the lines between ``<!-- marker:start -->`` and ``:end`` replaced."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"the markers {start} and {end} are missing")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content.strip()}\n{end}{tail}"


def _generated(root: Path) -> dict[Path, str]:
    """The expected contents of the generated files under ``root``."""
    readme = root / "README.md"
    losses = root / "docs" / "losses.md"
    for path in (readme, losses):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; --root must be the repository root")
    expected = {}
    expected[readme] = replace_between(
        readme.read_text(encoding="utf-8"), "loss-table", readme_table()
    )
    text = replace_between(losses.read_text(encoding="utf-8"), "loss-table", loss_table())
    expected[losses] = replace_between(text, "loss-reference", loss_reference())
    return expected


def update(root: str | Path = ".", *, check: bool = False) -> list[str]:
    """Regenerate the tables under ``root``; return the files that changed (or would).

    With ``check=True`` nothing is written.
    """
    changed = []
    for path, content in _generated(Path(root)).items():
        if path.read_text(encoding="utf-8") != content:
            changed.append(str(path))
            if not check:
                path.write_text(content, encoding="utf-8")
    return changed
