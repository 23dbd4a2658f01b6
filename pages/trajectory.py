"""Trajectory: decode along a path between two cell states, through the cells or straight in z."""

import streamlit as st

from scvi_viz.analysis import trajectory as tr
from scvi_viz.analysis.workspace import Workspace
from scvi_viz.plots.decoded import MAX_GENES
from scvi_viz.plots.export import toolbar_config
from scvi_viz.plots.style import library_label
from scvi_viz.plots.trajectory import path_charts, path_map_chart
from scvi_viz.ui import keys, point, sidebar
from scvi_viz.ui import trajectory as ui
from scvi_viz.ui.components.live_chart import live_chart
from scvi_viz.ui.downloads import export_picker, report_button
from scvi_viz.ui.genes import chosen_genes
from scvi_viz.ui.views import write_link

N_CHANGING = 20


@st.fragment
def along_the_path(ws: Workspace, view: ui.PathView, map_inputs: dict) -> None:
    """The step slider reruns this fragment only: the × on the map, the charts and the downloads."""
    step = ui.step_slider(view)
    step_xy = ui.step_marker(ws, view, step)
    here = point.current_point()
    decoded = point.timed_decode(lambda: tr.decode_path(ws.model, view.z[view.kind], point=here))
    if st.session_state[keys.TRAJECTORY_GENES] == "chosen" and chosen_genes():
        genes, note = chosen_genes()[:MAX_GENES], "the chosen genes"
    else:
        genes = decoded.changing_genes(N_CHANGING)
        note = f"the {len(genes)} genes whose log expected expression changes most"
    at = library_label(here.library_size, size_factor=ws.model.uses_size_factor)
    covariates = here.describe(ws.model.spec)
    decoded_at = f"decoded at the current point's {at}" + (f", {covariates}" if covariates else "")
    subtitle = f"{view.describe()} · {tr.PATH_KINDS[view.kind]}, {view.n_steps} steps · {decoded_at}"
    caption = {"path": f"{view.describe()}, {tr.PATH_KINDS[view.kind]}, {view.n_steps} steps",
               "library size": f"{here.library_size:.6g}", "covariates": covariates or "none",
               "model": f"{ws.model.model_name}, sha256 {ws.model.file_sha256[:12]}"}
    charts = path_charts(decoded, genes, relative_distance=view.distance, off=view.off, step=step,
                         ratio=tr.OFF_DATA_RATIO, size_factor=ws.model.uses_size_factor, gene_note=note,
                         subtitle=subtitle, caption=caption)
    if view.off.any():
        st.warning(f"{int(view.off.sum())} of {view.n_steps} steps are {tr.OFF_DATA_TEXT} (red on every chart): "
                   f"their nearest cell is more than {tr.OFF_DATA_RATIO:g} times the typical distance between "
                   "neighbouring cells away.")
    st.caption(f"Every step is {decoded_at} (set them on the Explore page); {len(ws.model.genes):,} genes x "
               f"{view.n_steps} steps decoded in {st.session_state[keys.LAST_DECODE_MS]:.0f} ms.")
    live_chart(charts.heatmap.figure, key="traj_heatmap", config=toolbar_config("path_heatmap"))
    live_chart(charts.counts.figure, key="traj_counts", config=toolbar_config("path_expected_counts"))
    live_chart(charts.distance.figure, key="traj_distance", config=toolbar_config("path_distance_to_data"))
    st.subheader("Download")
    the_map = path_map_chart(map_inputs, step=step, step_xy=step_xy, caption=caption)
    export_picker({"Path on the map, with the current step": the_map, **charts.named()}, key="traj_export")
    report_button(ws, [the_map, charts.heatmap, charts.counts, charts.distance], page="trajectory")
    write_link(ws, page="trajectory")  # the step slider reruns only this fragment


ws = sidebar.workspace(__file__)
if ws is not None:
    st.title("Walk between cell states")
    st.caption("Choose two endpoints, cells or the centroids of groups, and see what the decoder predicts at each step "
               "of a path between them: through the cells (it stays on the data) or a straight line in latent space.")
    for problem in ui.init_state(ws):
        st.warning(problem)
    ui.path_controls(ws)
    ui.selection_picker(ws)
    try:
        view = ui.path_view(ws)
    except tr.TrajectoryError as exc:
        st.error(str(exc))
    else:
        st.markdown(f"**Path:** {view.describe()}, {tr.PATH_KINDS[view.kind]}, {view.n_steps} steps")
        st.caption("The × marks the current step. Click a cell on the map to make it an endpoint.")
        along_the_path(ws, view, ui.path_map(ws, view))
