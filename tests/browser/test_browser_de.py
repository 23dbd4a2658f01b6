"""The differential-expression and model-fit pages, and the clicked cell's uncertainty, in Chromium.

At two window widths (1100 and 1500 px) every chart's text (title, subtitle, axis titles, tick
labels, legend, annotations) must lie inside the chart and titles, legends and annotations must
not overlap each other; screenshots of each page go to a temporary folder (or, with
``SCVI_VIZ_UPDATE_SCREENSHOTS=1``, to ``docs/screenshots/``), and PNG exports are checked too.
"""

from __future__ import annotations

import io
import os
import re
import zipfile

import pytest
from test_layout import text_layout_problems
from test_browser import (
    SCREENSHOTS,
    _CHARTS_READY_JS,
    assert_no_exception,
    body_text,
    chart,
    choose,
    download,
    download_chart,
    open_app,
    png_size,
    read_csv,
    wait_idle,
)

WIDTHS = (1100, 1500)

def screenshot(page, name: str, width: int, tmp_path, *, scroll_to: str | None = None) -> None:
    """The window (scrolled to the chart titled like ``scroll_to``, if given) as ``name_<width>``.png;
    with ``SCVI_VIZ_UPDATE_SCREENSHOTS=1`` the widest one goes to ``docs/screenshots/<name>.png``."""
    folder, stem = tmp_path, f"{name}_{width}"
    if os.environ.get("SCVI_VIZ_UPDATE_SCREENSHOTS") == "1" and width == WIDTHS[-1]:
        folder, stem = SCREENSHOTS, name
    folder.mkdir(parents=True, exist_ok=True)
    if scroll_to:
        page.evaluate("""p => [...document.querySelectorAll('.js-plotly-plot')]
          .find(e => String(e._fullLayout.title.text).includes(p)).scrollIntoView({block: 'start'})""", scroll_to)
    page.mouse.move(0, 0)
    page.screenshot(path=str(folder / f"{stem}.png"), full_page=True)


def open_page(page, url: str, title: str, path: str) -> None:
    open_app(page, url)
    page.get_by_role("link", name=title).click()
    page.wait_for_url(re.compile(f"/{path}(\\?|$)"))
    wait_idle(page)


def open_de(page, url: str) -> None:
    open_page(page, url, "Differential expression", "differential_expression")
    page.wait_for_function(_CHARTS_READY_JS, arg=[1, ["Volcano", "Download report bundle"]])  # the two largest groups
    choose(page, "Category", "CD4+/CD45RA+/CD25- Naive T", nth=1)
    page.wait_for_function(_CHARTS_READY_JS, arg=[1, ["Volcano", "Download report bundle"]])


@pytest.mark.parametrize("width", WIDTHS)
def test_de_page_volcano_table_and_click_to_explore(new_page, app_url, width, tmp_path):
    page = new_page({"width": width, "height": 1400})
    open_de(page, app_url)
    volcano = chart(page, "Volcano")
    genes = [g for t in volcano["traces"] for g in t["customdata"]]
    assert len(genes) == 765
    assert text_layout_problems(page, ["Volcano"]) == []
    assert_no_exception(page)
    screenshot(page, "differential_expression", width, tmp_path)
    if width != WIDTHS[0]:
        return
    name, data = download_chart(page, "Volcano plot (CSV: the whole DE table)", "PNG")
    assert name.endswith(".png") and png_size(data)[0] >= 1000
    (tmp_path / name).write_bytes(data)
    name, data = download_chart(page, "Volcano plot (CSV: the whole DE table)", "CSV")
    captions, header, rows = read_csv(data)
    assert {"proba_de", "lfc_mean", "is_de_fdr_0.05"} <= set(header) and len(rows) == 765
    assert any("group 1: bulk_labels = " in c for c in captions)
    # Click the most certain up-regulated gene: it is charted on the Explore page.
    target = page.evaluate("""() => {
      const el = [...document.querySelectorAll('.js-plotly-plot')].find(e => String(e._fullLayout.title.text).includes('Volcano'));
      el.scrollIntoView();
      const fl = el._fullLayout, r = el.getBoundingClientRect(), t = el._fullData[0];
      let best = 0;
      for (let i = 1; i < t.x.length; i++) if (t.x[i] > t.x[best]) best = i;
      return {gene: t.customdata[best], X: r.left + fl._size.l + fl.xaxis.d2p(t.x[best]), Y: r.top + fl._size.t + fl.yaxis.d2p(t.y[best])};
    }""")
    page.mouse.click(target["X"], target["Y"])
    page.wait_for_url(re.compile(r"/(explore)?(\?|$)"))
    page.wait_for_function("g => document.body.innerText.includes('Explore the latent space') && document.body.innerText.includes(g)",
                           arg=target["gene"])
    assert_no_exception(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_model_fit_page_text_fits_and_exports(new_page, app_url, width, tmp_path):
    page = new_page({"width": width, "height": 1400})
    open_page(page, app_url, "Model fit", "model_fit")
    page.wait_for_function(_CHARTS_READY_JS, arg=[4, ["Calibration", "Download report bundle"]])
    assert "Spearman" in " ".join(a["text"] for a in page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
      .find(e => String(e._fullLayout.title.text).includes('Mean count'))._fullLayout.annotations.map(a => ({text: a.text}))"""))
    assert "Summary" in body_text(page)
    assert text_layout_problems(page, ["Mean count", "Coefficient", "Fraction of zeros", "Calibration"]) == []
    assert_no_exception(page)
    screenshot(page, "model_fit", width, tmp_path)
    if width == WIDTHS[0]:
        name, data = download_chart(page, "Calibration of the predictive intervals", "PNG")
        assert png_size(data)[0] >= 1000
        (tmp_path / name).write_bytes(data)
        name, data = download(page, page.get_by_role("button", name=re.compile("Download report bundle")))
        files = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        assert name == "scvi-viz-model_fit-report.zip"
        assert {"fit_mean.png", "fit_cv.svg", "fit_zero_fraction.csv", "fit_calibration.png", "fit_per_gene.csv",
                "state.json"} <= files


@pytest.mark.parametrize("width", WIDTHS)
def test_clicked_cell_uncertainty_on_explore(new_page, app_url, width, tmp_path):
    page = new_page({"width": width, "height": 1400})
    open_app(page, app_url)
    page.get_by_text("Show the posterior uncertainty of the clicked cell").click()
    page.wait_for_function(_CHARTS_READY_JS, arg=[4, ["Expected counts over the cell's posterior", "observed counts lie inside"]])
    spread = chart(page, "Expected counts over the cell's posterior")
    assert spread["traces"][0]["x"] == chart(page, "Observed vs predictive counts")["traces"][0]["x"]
    assert text_layout_problems(page, ["Expected counts over", "Observed vs predictive"]) == []
    assert_no_exception(page)
    screenshot(page, "cell_uncertainty", width, tmp_path, scroll_to="Expected counts over")
    if width == WIDTHS[0]:
        # the section's own picker, above the page's Download section
        name, data = download_chart(page, "Observed counts against the predictive distribution", "PNG", nth=0)
        assert png_size(data)[0] >= 1000
        (tmp_path / name).write_bytes(data)
