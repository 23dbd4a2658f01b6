"""Column headers a biologist reads, for tables whose CSVs keep scvi-tools' own column names.

Each header leads with what the number is; the column's help (hover on the header) gives the
technical name and how it is computed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import streamlit as st

_DE = {
    "proba_de": ("P(differentially expressed)", "proba_de: the posterior probability that |log2 fold change| ≥ delta."),
    "proba_not_de": ("P(not differentially expressed)", "proba_not_de = 1 − proba_de."),
    "bayes_factor": ("log Bayes factor", "bayes_factor: log(proba_de / proba_not_de), as scvi-tools reports it."),
    "scale1": ("normalised expression, group 1", "scale1: mean decoded px_scale (fraction of the library) of group 1."),
    "scale2": ("normalised expression, group 2", "scale2: mean decoded px_scale (fraction of the library) of group 2."),
    "pseudocounts": ("pseudocount", "pseudocounts: added to px_scale before the log fold change (scvi-tools' default)."),
    "delta": ("delta (log2 fold change threshold)", "delta: a gene is DE when |log2 fold change| ≥ delta."),
    "lfc_mean": ("log2 fold change, 1 vs 2 (mean)", "lfc_mean: mean over posterior samples of log2(scale1 / scale2)."),
    "lfc_median": ("log2 fold change (median)", "lfc_median: median over posterior samples."),
    "lfc_std": ("log2 fold change (standard deviation)", "lfc_std: spread over posterior samples."),
    "lfc_min": ("log2 fold change (smallest sample)", "lfc_min."),
    "lfc_max": ("log2 fold change (largest sample)", "lfc_max."),
    "raw_mean1": ("mean observed counts, group 1", "raw_mean1: mean of the cells' counts."),
    "raw_mean2": ("mean observed counts, group 2", "raw_mean2: mean of the cells' counts."),
    "non_zeros_proportion1": ("share of cells with counts, group 1", "non_zeros_proportion1."),
    "non_zeros_proportion2": ("share of cells with counts, group 2", "non_zeros_proportion2."),
    "raw_normalized_mean1": ("mean observed counts per 10,000, group 1", "raw_normalized_mean1: counts over each cell's total × 10,000."),
    "raw_normalized_mean2": ("mean observed counts per 10,000, group 2", "raw_normalized_mean2: counts over each cell's total × 10,000."),
    "comparison": ("comparison", "comparison: group 1 vs group 2."),
    "group1": ("group 1", "group1."),
    "group2": ("group 2", "group2."),
}
_FDR = re.compile(r"^is_de_fdr_([0-9.]+)$")
_COMPARE = {
    "scale": ("normalised expression", "scale: px_scale, the fraction of the library (scvi-tools' normalized expression)."),
    "rate": ("expected counts", "rate: px_rate = library size × px_scale."),
    "log2FC": ("log2 fold change", "log2FC: log2((scale_B + pseudo) / (scale_A + pseudo))."),
}
_COMPARE_PLAIN = {
    "max_abs_log2FC": ("largest |log2 fold change|", "max_abs_log2FC: over the compared values, against the reference."),
    "ranked": ("ranked (expressed enough)", "ranked: expected at the minimum or more under at least one value."),
}
_BRACKETED = re.compile(r"^(\w+) \[(.*)\]$")


def de_header(column: str) -> tuple[str, str]:
    """(header, help) of a column of scvi-tools' DE table."""
    if column in _DE:
        return _DE[column]
    if m := _FDR.match(column):
        return f"DE at FDR {float(m.group(1)):.0%}", f"{column}: called DE with the expected false discovery rate at {m.group(1)}."
    return column, column


def compare_header(column: str) -> tuple[str, str]:
    """(header, help) of a column of a Compare table: ``scale [phase = G1]`` -> ``normalised expression, phase = G1``."""
    if column in _COMPARE_PLAIN:
        return _COMPARE_PLAIN[column]
    m = _BRACKETED.match(column)
    if m and m.group(1) in _COMPARE:
        words, help_text = _COMPARE[m.group(1)]
        return f"{words}, {m.group(2)}", help_text
    return column, column


def column_config(table: pd.DataFrame, header: Callable[[str], tuple[str, str]]) -> dict[str, st.column_config.Column]:
    """``st.dataframe`` column settings with :func:`de_header` / :func:`compare_header` words (numbers to 4 significant digits)."""
    config = {}
    for column in table.columns:
        label, help_text = header(str(column))
        if pd.api.types.is_float_dtype(table[column]):
            config[column] = st.column_config.NumberColumn(label, help=help_text, format="%.4g")
        else:
            config[column] = st.column_config.Column(label, help=help_text)
    return config
