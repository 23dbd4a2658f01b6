"""Gene sets a biologist pastes (``"monocyte: LYZ S100A8 S100A9"``, one per line), checked against the model."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

MAX_SETS = 20
"""Gene sets one view keeps."""
MAX_SET_GENES = 500
"""Genes one set may hold."""
MAX_NAME_CHARS = 60


def parse_gene_sets(text: str, genes: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Gene sets from ``text``: one set per line, ``name: gene gene ...`` (genes separated by spaces,
    commas or semicolons; any case, matched to the model's ``genes``).

    Returns
    -------
    tuple
        ``(sets, notes)``: the sets in the order given (each with at least one of the model's
        genes, at most :data:`MAX_SET_GENES`, named uniquely), and what was left out, in words.
    """
    known = {g.upper(): g for g in genes}
    sets: dict[str, list[str]] = {}
    notes: list[str] = []
    for number, line in enumerate(str(text).splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, rest = line.partition(":")
        if not sep:
            name, rest = f"set {len(sets) + 1}", line
        name = " ".join(name.split())[:MAX_NAME_CHARS] or f"set {len(sets) + 1}"
        names = [g for g in re.split(r"[\s,;]+", rest) if g]
        found = list(dict.fromkeys(known[g.upper()] for g in names if g.upper() in known))
        missing = [g for g in names if g.upper() not in known]
        if missing:
            notes.append(f"{name}: not among the model's genes: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}")
        if not found:
            notes.append(f"line {number} ({name}) has none of the model's genes and was left out")
            continue
        if len(found) > MAX_SET_GENES:
            notes.append(f"{name}: only its first {MAX_SET_GENES} genes are kept")
            found = found[:MAX_SET_GENES]
        if name in sets:
            notes.append(f"a second set named {name!r} was left out")
            continue
        if len(sets) == MAX_SETS:
            notes.append(f"only the first {MAX_SETS} sets are kept")
            break
        sets[name] = found
    return sets, notes


def format_gene_sets(sets: Mapping[str, Sequence[str]]) -> str:
    """The text :func:`parse_gene_sets` reads back as ``sets``."""
    return "\n".join(f"{name}: {' '.join(genes)}" for name, genes in sets.items())


def valid_gene_sets(value: object, genes: Sequence[str]) -> bool:
    """Whether ``value`` (from a link or a saved view) is gene sets of this model."""
    if not isinstance(value, dict) or len(value) > MAX_SETS:
        return False
    known = set(genes)
    return all(isinstance(k, str) and 0 < len(k) <= MAX_NAME_CHARS and ":" not in k and isinstance(v, list)
               and 0 < len(v) <= MAX_SET_GENES and all(isinstance(g, str) and g in known for g in v)
               for k, v in value.items())
