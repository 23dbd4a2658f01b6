"""Table headers in words (the CSVs keep scvi-tools' column names)."""

from __future__ import annotations

import pandas as pd
import pytest

from scvi_viz.ui.table_words import column_config, compare_header, de_header

# The columns of scvi-tools' differential_expression(mode="change") table.
SCVI_DE_COLUMNS = ["proba_de", "proba_not_de", "bayes_factor", "scale1", "scale2", "pseudocounts", "delta", "lfc_mean",
                   "lfc_median", "lfc_std", "lfc_min", "lfc_max", "raw_mean1", "raw_mean2", "non_zeros_proportion1",
                   "non_zeros_proportion2", "raw_normalized_mean1", "raw_normalized_mean2", "is_de_fdr_0.05",
                   "comparison", "group1", "group2"]


@pytest.mark.parametrize("column", SCVI_DE_COLUMNS)
def test_every_de_column_has_words_and_names_scvi_tools_column_in_its_help(column):
    header, help_text = de_header(column)
    assert "_" not in header and header != column or column in ("comparison", "delta")
    assert column in help_text


def test_fdr_and_compare_headers():
    assert de_header("is_de_fdr_0.1")[0] == "DE at FDR 10%"
    assert compare_header("scale [phase = G1]") == ("normalised expression, phase = G1", compare_header("scale [x]")[1])
    assert compare_header("rate [phase = S]")[0] == "expected counts, phase = S"
    assert compare_header("log2FC [phase = G2M vs phase = G1]")[0] == "log2 fold change, phase = G2M vs phase = G1"
    assert compare_header("max_abs_log2FC")[0] == "largest |log2 fold change|"
    assert compare_header("something else") == ("something else", "something else")


def test_column_config_keeps_the_columns_and_formats_numbers():
    table = pd.DataFrame({"lfc_mean": [0.5], "comparison": ["a vs b"]})
    config = column_config(table, de_header)
    assert set(config) == {"lfc_mean", "comparison"}
    assert config["lfc_mean"]["label"] == "log2 fold change, 1 vs 2 (mean)"
    assert config["lfc_mean"]["type_config"]["format"] == "%.4g"
