"""Trace data of the plotly figure builders."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.io.json import to_json_plotly

from scvi_viz.plots import cell_map, comparison, decoded, style
from scvi_viz.plots.cell_map import GRID_TRACE, GRID_TRACE_INDEX, POINT_NAME
from scvi_viz.analysis.compare import comparison_table, rank_genes, value_labels

RNG = np.random.default_rng(1)
N_CELLS = 50
COORDS = RNG.normal(size=(N_CELLS, 2)).astype(np.float32) * [3.0, 1.0]
HOVER = [f"cell{i}" for i in range(N_CELLS)]
GENES = [f"G{i}" for i in range(12)]


def arr(values) -> np.ndarray:
    return np.asarray(values)


def make_profile(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rate = rng.gamma(1.0, 20.0, size=n)
    dropout = rng.uniform(0, 0.6, size=n)
    counts = (1 - dropout) * np.exp(-rate / 5)
    return pd.DataFrame(
        {
            "rate": rate,
            "interval_low": np.floor(rate * 0.3),
            "interval_high": np.ceil(rate * 2.0 + 1),
            "scale": rate / 1e4,
            "theta": rng.uniform(0.5, 5, size=n),
            "dropout": dropout,
            "p_zero": dropout + counts,
            "p_zero_dropout": dropout,
            "p_zero_counts": counts,
        },
        index=pd.Index(GENES[:n], name="gene"),
    )


def make_table(values=("A", "B")) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    data = {}
    for v in values:
        scale = rng.dirichlet(np.ones(len(GENES)))
        data[v] = {"scale": scale, "rate": scale * 1000}
    return comparison_table(GENES, data, 1000.0)


# ------------------------------------------------------------------ umap


@pytest.mark.parametrize("grid_size", [5, 20])
def test_umap_grid_trace_first(grid_size):
    fig = cell_map.umap_figure(COORDS, np.arange(N_CELLS), color_name="n", hover=HOVER, grid_size=grid_size)
    grid = fig.data[GRID_TRACE_INDEX]
    assert GRID_TRACE_INDEX == 0
    assert grid.name == GRID_TRACE
    assert grid.marker.opacity == 0
    assert len(arr(grid.x)) == grid_size**2 and len(arr(grid.y)) == grid_size**2
    assert grid.showlegend is False
    # The grid covers every cell.
    assert arr(grid.x).min() < COORDS[:, 0].min() and arr(grid.x).max() > COORDS[:, 0].max()
    assert arr(grid.y).min() < COORDS[:, 1].min() and arr(grid.y).max() > COORDS[:, 1].max()


def test_umap_categorical_colours_one_trace_per_category():
    labels = np.array(["T", "B", "NK", "B", "T"] * 10)
    fig = cell_map.umap_figure(COORDS, labels, color_name="cell type", hover=HOVER, point_xy=(1.5, -0.5))
    cells = list(fig.data[1:-1])
    assert [t.name for t in cells] == ["T", "B", "NK"]  # order of first appearance
    assert len({t.marker.color for t in cells}) == 3
    all_idx = np.concatenate([arr(t.customdata) for t in cells])
    assert sorted(all_idx.tolist()) == list(range(N_CELLS))  # every cell exactly once
    for t in cells:
        idx = arr(t.customdata).astype(int)
        assert set(labels[idx]) == {t.name}
        np.testing.assert_allclose(arr(t.x), COORDS[idx, 0])
        np.testing.assert_allclose(arr(t.y), COORDS[idx, 1])
        assert list(arr(t.text)) == [HOVER[i] for i in idx]
    point = fig.data[-1]
    assert point.name == POINT_NAME and point.showlegend is not False
    assert point.marker.symbol == "x-thin" and (list(point.x), list(point.y)) == ([1.5], [-0.5])
    assert fig.layout.legend.title.text == "cell type"


def test_umap_pandas_categorical_colours():
    labels = pd.Series(pd.Categorical(["x", "y"] * (N_CELLS // 2)))
    fig = cell_map.umap_figure(COORDS, labels, color_name="c", hover=HOVER)
    assert [t.name for t in fig.data[1:]] == ["x", "y"]  # no current point without point_xy


def test_umap_numeric_colours_in_steps_with_one_colour_bar():
    values = np.linspace(0, 1, N_CELLS)
    fig = cell_map.umap_figure(COORDS, values, color_name="score", hover=HOVER, point_xy=(0.0, 0.0))
    steps = len(cell_map.STEP_COLOURS)
    assert [t.name for t in fig.data] == [GRID_TRACE, *["score"] * (steps + 1), POINT_NAME]
    cells = fig.data[1:1 + steps]
    drawn = np.concatenate([arr(t.customdata).reshape(-1, 2) for t in cells])
    np.testing.assert_array_equal(np.sort(drawn[:, 0]), np.arange(N_CELLS))  # every cell once, with its value
    np.testing.assert_allclose(drawn[np.argsort(drawn[:, 0]), 1], values.astype(np.float32), rtol=1e-6)
    for k, t in enumerate(cells):  # each step's cells lie in its share of the range, in its colour
        v = arr(t.customdata).reshape(-1, 2)[:, 1]
        assert t.marker.color == cell_map.STEP_COLOURS[k]
        assert ((v >= k / steps - 1e-6) & (v <= (k + 1) / steps + 1e-6)).all()
    # One colour bar with the name once: no legend entry for the cells, no legend title.
    bar = fig.data[1 + steps]
    assert bar.marker.showscale is True and (bar.marker.cmin, bar.marker.cmax) == (0.0, 1.0)
    assert all(t.showlegend is False for t in fig.data[1:1 + steps + 1])
    assert bar.marker.colorbar.title.text == "score" and not fig.layout.legend.title.text


def test_umap_titles_say_what_not_what_to_click():
    fig = cell_map.umap_figure(COORDS, np.arange(N_CELLS) % 2, color_name="k", embedding_name="UMAP",
                               subtitle="× current point: cell 3 · 50 cells")
    assert fig.layout.title.text == "Cells in UMAP, coloured by k"
    assert fig.layout.title.subtitle.text == "× current point: cell 3 · 50 cells"
    texts = json.dumps([fig.layout.title.to_plotly_json(), [a.to_plotly_json() for a in fig.layout.annotations]])
    assert "click" not in texts.lower()
    long = cell_map.umap_figure(COORDS, HOVER, color_name="a very long column name " * 4, hover=HOVER)
    assert "<br>" in long.layout.title.text and long.layout.margin.t > fig.layout.margin.t


@pytest.mark.parametrize("numeric", [False, True])
def test_umap_without_hover_text(numeric):
    color = np.linspace(0, 1, N_CELLS) if numeric else np.array(["a", "b"] * (N_CELLS // 2))
    fig = cell_map.umap_figure(COORDS, color, color_name="c")
    cells = [t for t in fig.data[1:] if t.hoverinfo != "skip"]  # not the colour bar's trace
    assert all(t.text is None for t in cells)
    assert all("customdata" in t.hovertemplate for t in cells)
    idx = np.concatenate([arr(t.customdata).reshape(len(t.x), -1)[:, 0] for t in cells])
    assert sorted(idx.tolist()) == list(range(N_CELLS))


def test_umap_hover_text_follows_cells():
    fig = cell_map.umap_figure(COORDS, np.arange(N_CELLS, dtype=float), color_name="n", hover=HOVER)
    for t in fig.data[1:]:
        if t.customdata is not None:  # each cell's text goes with it, whichever colour step it is in
            rows = arr(t.customdata).reshape(len(t.x), -1)[:, 0].astype(int)
            assert list(arr(t.text)) == [HOVER[i] for i in rows]


def test_figures_carry_their_own_template():
    # Importing Streamlit makes plotly's default template its own, with placeholder colours
    # ("#000001", ...) that only Streamlit's frontend fills in: no figure may depend on it.
    import plotly.io as pio
    import streamlit  # noqa: F401

    assert pio.templates.default == "streamlit"
    fig = cell_map.umap_figure(COORDS, np.array(["T", "B"] * (N_CELLS // 2)), color_name="c", hover=HOVER)
    assert list(fig.layout.template.layout.colorway) == list(style.TEMPLATE["layout"]["colorway"])
    assert "#000001" not in fig.to_json()
    assert fig.layout.clickmode == "event"


def test_umap_integer_colours_are_numeric():
    fig = cell_map.umap_figure(COORDS, np.arange(N_CELLS) % 3, color_name="k", hover=HOVER)
    assert fig.data[-1].marker.showscale is True and not any(t.showlegend for t in fig.data)  # a scale, no legend


def test_umap_title_and_axes():
    fig = cell_map.umap_figure(COORDS, np.zeros(N_CELLS), color_name="zero", hover=HOVER, embedding_name="X_tsne")
    assert "X_tsne" in fig.layout.title.text and "zero" in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "X_tsne 1"
    assert fig.layout.yaxis.title.text == "X_tsne 2"
    latent = cell_map.umap_figure(COORDS, np.zeros(N_CELLS), color_name="zero", embedding_name="UMAP of the scVI latent space")
    assert (latent.layout.xaxis.title.text, latent.layout.yaxis.title.text) == ("UMAP 1", "UMAP 2")


def test_umap_degenerate_coordinates():
    coords = np.ones((4, 2))
    fig = cell_map.umap_figure(coords, ["a"] * 4, color_name="c", hover=["h"] * 4, grid_size=3)
    grid_x = arr(fig.data[0].x)
    assert np.isfinite(grid_x).all() and grid_x.min() < 1 < grid_x.max()


# --------------------------------------------------------------- profiles


def axis_titles(fig) -> list[str]:
    """The x-axis titles, panel by panel, as read (line breaks as spaces)."""
    names = sorted((k for k in fig.layout if k.startswith("xaxis")), key=lambda k: int(k[5:] or 1))
    return [fig.layout[k].title.text.replace("<br>", " ") for k in names]


def test_top_genes_figure():
    profile = make_profile().nlargest(8, "rate")
    fig = decoded.top_genes_figure(profile, library_size=10000.0)
    assert len(fig.data) == 1
    bar = fig.data[0]
    assert bar.type == "bar" and bar.orientation == "h"
    assert list(bar.y) == list(profile.index)
    assert fig.layout.yaxis.categoryarray[-1] == profile.index[0]  # largest on top
    np.testing.assert_allclose(arr(bar.x), profile["rate"].to_numpy())
    np.testing.assert_allclose(arr(bar.customdata), profile["scale"].to_numpy())
    assert "Top 8" in fig.layout.title.text
    assert axis_titles(fig) == ["expected counts at library size N = 10,000"]


def test_top_genes_figure_small_library_and_size_factor_units():
    assert axis_titles(decoded.top_genes_figure(make_profile(3), library_size=1.2345)) == [
        "expected counts at library size N = 1.23"]
    assert axis_titles(decoded.top_genes_figure(make_profile(3), library_size=4.93, size_factor=True)) == [
        "expected counts at size factor = 4.93"]


def test_gene_names_get_the_room_they_need():
    short = make_profile(4)
    long = short.rename(index={short.index[0]: "RP11-291B21.2-AS1-LONGNAME"})
    a = decoded.expected_counts_figure(short, library_size=1e3)
    b = decoded.expected_counts_figure(long, library_size=1e3)
    assert b.layout.margin.l > a.layout.margin.l >= style.label_margin(list(short.index))
    assert b.layout.margin.l >= style.text_width("RP11-291B21.2-AS1-LONGNAME", style.TICK_SIZE)
    # More genes, more height; each gene keeps its row.
    assert decoded.expected_counts_figure(make_profile(12), library_size=1e3).layout.height > a.layout.height


def test_expected_counts_figure_error_bars():
    profile = make_profile()
    fig = decoded.expected_counts_figure(profile, library_size=5000.0)
    tr = fig.data[0]
    rate = profile["rate"].to_numpy()
    np.testing.assert_allclose(arr(tr.x), rate)
    assert list(tr.y) == GENES
    np.testing.assert_allclose(arr(tr.error_x.array), profile["interval_high"].to_numpy() - rate)
    np.testing.assert_allclose(arr(tr.error_x.arrayminus), rate - profile["interval_low"].to_numpy())
    assert tr.error_x.symmetric is False
    np.testing.assert_allclose(arr(tr.customdata), profile[["interval_low", "interval_high"]].to_numpy())
    assert axis_titles(fig) == ["counts at library size N = 5,000"]


def test_expected_counts_figure_error_bars_never_negative():
    # Skewed distributions: the rate may lie outside the interval; bars are clipped at 0.
    profile = make_profile(2)
    profile["rate"] = [0.3, 50.0]
    profile["interval_low"] = [0.0, 0.0]
    profile["interval_high"] = [0.0, 40.0]
    tr = decoded.expected_counts_figure(profile, library_size=100.0).data[0]
    np.testing.assert_allclose(arr(tr.error_x.array), [0.0, 0.0])
    np.testing.assert_allclose(arr(tr.error_x.arrayminus), [0.3, 50.0])


@pytest.mark.parametrize(("likelihood", "names"), [
    ("zinb", ["Normalised expression", "Dispersion θ", "Dropout"]),
    ("nb", ["Normalised expression", "Dispersion θ"]), ("poisson", ["Normalised expression"])])
def test_parameters_figure_shows_the_parameters_the_likelihood_has(likelihood, names):
    profile = make_profile()
    fig = decoded.parameters_figure(profile, likelihood=likelihood, subtitle="sub")
    assert [t.name for t in fig.data] == names
    assert all(t.type == "bar" and t.orientation == "h" for t in fig.data)
    assert len({t.xaxis for t in fig.data}) == len(names)
    column = {"Normalised expression": "scale", "Dispersion θ": "theta", "Dropout": "dropout"}
    for t in fig.data:
        np.testing.assert_allclose(arr(t.x), profile[column[t.name]].to_numpy())
        assert list(t.y) == GENES
    domains = [tuple(fig.layout["xaxis" + ("" if i == 0 else str(i + 1))].domain) for i in range(len(names))]
    for (a0, a1), (b0, b1) in zip(domains, domains[1:]):
        assert a1 <= b0  # side by side, not overlapping
    # Gene names once, on the first panel of the row.
    assert [fig.layout["yaxis" + ("" if i == 0 else str(i + 1))].showticklabels for i in range(len(names))] == (
        [True] + [False] * (len(names) - 1))
    assert len(fig.layout.annotations) == len(names)
    subtitle = fig.layout.title.subtitle.text
    assert subtitle.startswith("sub")
    assert ("no zero inflation" in subtitle) == (likelihood == "nb")
    assert ("no dispersion" in subtitle) == (likelihood == "poisson")


def test_parameters_figure_size_factor_scale_unit():
    fig = decoded.parameters_figure(make_profile(), size_factor=True)
    assert axis_titles(fig)[0] == "softplus scale (x size factor = counts)"


def test_zero_probability_figure_stacked():
    profile = make_profile()
    fig = decoded.zero_probability_figure(profile)
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["from dropout", "from the count distribution"]
    total = arr(fig.data[0].x) + arr(fig.data[1].x)
    np.testing.assert_allclose(total, profile["p_zero"].to_numpy())
    np.testing.assert_allclose(arr(fig.data[0].x), profile["p_zero_dropout"].to_numpy())
    assert list(fig.data[0].y) == list(fig.data[1].y) == GENES


def test_zero_probability_figure_without_zero_inflation_has_no_dropout_part():
    fig = decoded.zero_probability_figure(make_profile(), likelihood="nb")
    assert [t.name for t in fig.data] == ["from the count distribution"]
    assert "no zero inflation" in fig.layout.annotations[0].text


def test_point_figure_rows_do_not_overlap():
    profile = make_profile()
    fig = decoded.point_figure(profile.nlargest(10, "rate"), profile.iloc[:5], library_size=1e3)
    ys = sorted(tuple(fig.layout[k].domain) for k in fig.layout if k.startswith("yaxis"))
    rows = sorted(set(ys))
    assert len(rows) == 4  # top genes, expected counts, P(0), the parameters' row
    for (a0, a1), (b0, b1) in zip(rows, rows[1:]):
        assert a1 < b0
    assert all(0 <= a < b <= 1 for a, b in rows)
    assert fig.layout.margin.l >= style.label_margin(list(profile.index))


def test_the_page_draws_the_decoded_figure_that_is_exported():
    profile = make_profile()
    charts = decoded.decoded_charts(profile, genes=list(profile.index[:4]), n_top=8, library_size=1e3,
                                    likelihood="zinb", size_factor=False, subtitle="cell 1", caption={})
    def plain(value):  # plotly's typed arrays ({"dtype": ..., "bdata": base64}) as lists
        if isinstance(value, dict) and "bdata" in value:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            return array.reshape([int(n) for n in str(value.get("shape", len(array))).split(",")]).tolist()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return [plain(v) for v in value] if isinstance(value, list) else value

    shown = plain(json.loads(to_json_plotly(charts.shown)))
    assert shown == plain(json.loads(charts.whole.figure.to_json()))
    assert len(shown["data"]) == len(charts.whole.figure.data) > 1
    go.Figure(charts.shown)  # valid, property by property


# ------------------------------------------------------------ comparisons


def make_lfc_table(genes, values=("A", "B", "C"), *, low=()) -> pd.DataFrame:
    """A comparison with made-up fold changes; genes in ``low`` are expected at 0.01 counts."""
    rng = np.random.default_rng(5)
    data = {}
    for v in values:
        rate = rng.gamma(2.0, 5.0, size=len(genes))
        rate[[genes.index(g) for g in low]] = 0.01 * rng.uniform(1, 8, size=len(low))
        data[v] = {"scale": rate / 1000, "rate": rate}
    return comparison_table(genes, data, 1000.0)


@pytest.mark.parametrize("unit", ["scale", "rate"])
def test_compare_scatter_two_values(unit):
    table = make_table()
    fig = comparison.compare_scatter(table, unit=unit)
    assert len(fig.data) == 2
    line = fig.data[0]
    assert line.mode == "lines"
    assert tuple(line.x) == tuple(line.y)  # the identity
    x = table[f"{unit} [A]"].to_numpy()
    y = table[f"{unit} [B]"].to_numpy()
    lo, hi = line.x
    assert lo <= min(x.min(), y.min()) and hi >= max(x.max(), y.max())
    pts = fig.data[1]
    np.testing.assert_allclose(arr(pts.x), x)
    np.testing.assert_allclose(arr(pts.y), y)
    assert list(pts.text) == list(table.index)
    assert pts.name == "B" and "B vs A" in pts.hovertemplate
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    what = "normalised expression" if unit == "scale" else "expected counts"
    assert fig.layout.xaxis.title.text == f"{what} at A (reference)"
    assert fig.layout.yaxis.title.text == f"{what} at B"


def test_compare_scatter_one_trace_per_other_value():
    table = make_table(("G1", "S", "G2M"))
    fig = comparison.compare_scatter(table, unit="scale")
    assert [t.name for t in fig.data[1:]] == ["S", "G2M"]
    for t, v in zip(fig.data[1:], ("S", "G2M")):
        np.testing.assert_allclose(arr(t.x), table["scale [G1]"].to_numpy())
        np.testing.assert_allclose(arr(t.y), table[f"scale [{v}]"].to_numpy())
    assert "S, G2M vs G1" in fig.layout.title.subtitle.text.replace("\u00a0", " ")
    assert fig.layout.yaxis.title.text == "normalised expression at each other value"


def test_compare_scatter_bracketed_value_names():
    values = {"A [x]": {"scale": np.full(3, 0.2), "rate": np.full(3, 2.0)},
              "B": {"scale": np.array([0.1, 0.2, 0.4]), "rate": np.array([1.0, 2.0, 4.0])}}
    table = comparison_table(GENES[:3], values, 10.0)
    fig = comparison.compare_scatter(table, unit="rate")
    assert [t.name for t in fig.data[1:]] == ["B"]
    assert fig.layout.xaxis.title.text == "expected counts at A [x] (reference)"


def test_compare_log_axes_print_powers_of_ten():
    fig = comparison.compare_scatter(make_table(), unit="scale")
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.exponentformat == "power" and axis.dtick == 1  # one labelled tick per decade
        assert axis.minor.ticks == "outside" and axis.minor.dtick == "D1"  # unlabelled minor ticks
    assert comparison.log_axis("x", 1e-12, 1.0)["dtick"] == 2  # past eight decades, every second one


@pytest.mark.parametrize("n", [3, 5, 50])
def test_lfc_figure_top_abs(n):
    table = make_table()
    fig = comparison.lfc_figure(table, n=n)
    bar = fig.data[0]
    k = min(n, len(table))
    lfc = arr(bar.x)
    assert len(lfc) == k
    expected = table["log2FC [B vs A]"].to_numpy()[np.argsort(-table["max_abs_log2FC"].to_numpy(), kind="stable")[:k]]
    # Largest |log2FC| last (drawn on top).
    np.testing.assert_allclose(np.sort(np.abs(lfc)), np.sort(np.abs(expected)))
    assert np.all(np.diff(np.abs(lfc)) >= 0)
    assert list(bar.y)[-1] == table["max_abs_log2FC"].idxmax()
    genes = list(bar.y)
    np.testing.assert_allclose(lfc, table.loc[genes, "log2FC [B vs A]"].to_numpy())
    assert bar.name == "B"
    assert fig.layout.title.text == f"Top {k} genes by |log2 fold change|"
    assert "B vs A" in fig.layout.title.subtitle.text
    assert fig.layout.xaxis.title.text == "log2 fold change vs A"


def test_lfc_figure_one_bar_per_other_value():
    genes = [f"G{i}" for i in range(30)]
    table = make_lfc_table(genes)
    fig = comparison.lfc_figure(table, n=10)
    assert fig.layout.barmode == "group" and fig.layout.showlegend
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"B", "C"}
    top = list(table.head(10).index)[::-1]
    for name, trace in by_name.items():
        assert list(trace.y) == top
        np.testing.assert_allclose(arr(trace.x), table.loc[top, f"log2FC [{name} vs A]"].to_numpy())
    assert "B, C vs A" in fig.layout.title.subtitle.text
    assert "Ranked: 30 of 30 genes" in fig.layout.title.subtitle.text


def test_lfc_figure_leaves_out_genes_below_the_minimum_expression():
    genes = [f"G{i}" for i in range(30)]
    low = genes[:8]
    table = make_lfc_table(genes, low=low)
    fig = comparison.lfc_figure(table, n=25)
    shown = set(fig.data[0].y)
    assert len(shown) == 22 and not shown & set(low)
    assert "Ranked: 22 of 30 genes, at ≥ 0.1 expected counts at library size 1,000" in fig.layout.title.subtitle.text
    # Without a minimum they are ranked, and the low ones (fold changes of noise) are among them.
    every = comparison.lfc_figure(rank_genes(table, min_counts=None), n=25)
    assert set(every.data[0].y) & set(low)


def test_lfc_left_margin_holds_the_longest_gene_name():
    short = make_lfc_table(["A1", "B2", "C3", "D4"])
    long_name = "RP11-291B21.2-WWWWWW"
    long = make_lfc_table(["A1", "B2", "C3", long_name])
    m_short = comparison.lfc_figure(short).layout.margin.l
    m_long = comparison.lfc_figure(long).layout.margin.l
    assert m_long == style.label_margin(["A1", "B2", "C3", long_name])
    assert m_long >= style.text_width(long_name, style.TICK_SIZE) > m_short
    # Only the shown genes count.
    one = comparison.lfc_figure(long, n=1)
    assert one.layout.margin.l == style.label_margin(list(one.data[0].y))


def test_compare_titles_fit_and_name_continuous_values():
    labels = value_labels("percent_mito", [0.011790941189974547, 0.023972257412970068], continuous=True)
    data = {lab: {"scale": np.linspace(0.01, 0.2, 12) * (1 + i), "rate": np.linspace(1, 20, 12) * (1 + i)}
            for i, lab in enumerate(labels)}
    table = comparison_table(GENES, data, 1000.0)
    subtitle = "cell AAACCCAAGGCTAGCA-1 (CD4 T cells, a rather long label) · library size 1,000<br>SCVI model in model/"
    for fig in (comparison.compare_scatter(table, unit="rate", subtitle=subtitle), comparison.lfc_figure(table, subtitle=subtitle)):
        text = fig.to_json()
        assert "0.0239722" not in text and "0.0117909" not in text
        assert "percent_mito\\u00a0=\\u00a00.024" in text or "percent_mito = 0.024" in text
        assert "<br>" not in fig.layout.title.text and len(fig.layout.title.text) <= 40
        lines = fig.layout.title.subtitle.text.split("<br>")
        assert all(style.text_width(line, style.SUBTITLE_SIZE) <= comparison.SUBTITLE_PX for line in lines)
        # The top margin holds the title and every subtitle line.
        assert fig.layout.margin.t >= style.text_height(1, style.TITLE_SIZE) + style.text_height(len(lines), style.SUBTITLE_SIZE)
    scatter = comparison.compare_scatter(table, unit="rate")
    assert scatter.layout.xaxis.title.text == "expected counts at percent_mito = 0.0118 (reference)"
    assert scatter.layout.yaxis.title.text == "expected counts at percent_mito = 0.024"


def test_figures_are_figures_and_serialise():
    profile = make_profile()
    table = make_table()
    figs = [
        cell_map.umap_figure(COORDS, HOVER, color_name="id", hover=HOVER, point_xy=(0, 0)),
        decoded.top_genes_figure(profile, library_size=1e4),
        decoded.expected_counts_figure(profile, library_size=1e4),
        decoded.parameters_figure(profile, subtitle="sub"),
        decoded.zero_probability_figure(profile),
        comparison.compare_scatter(table, unit="scale"),
        comparison.lfc_figure(table),
    ]
    for fig in figs:
        assert isinstance(fig, go.Figure)
        assert fig.to_json()
    assert figs[3].layout.title.subtitle.text == "sub"


def test_figures_built_in_tests_are_validated():
    # style.build_figure skips plotly's validation; conftest.py validates every figure it builds in tests.
    with pytest.raises(ValueError, match="markr"):
        style.build_figure([{"type": "bar", "x": [1], "markr": {}}], {})
    with pytest.raises(ValueError, match="titel"):
        style.build_figure([], {"titel": "x"})
