"""Names of the ``st.session_state`` entries that more than one module reads or writes.

Widget keys used only where their widget is drawn stay next to it.
"""

WORKSPACE = "_workspace"
"""The workspace the sidebar opened this run (``None`` when there is none)."""
WORKSPACE_ID = "workspace_id"
"""Identity of the open workspace (model hash + paths): keys per-session caches."""
START_PAGE = "_start_page"
"""A page asked for by URL before ``app.py`` ran; ``app.py`` switches to it."""
SOURCE = "_source"
"""Where the open model and data came from, as a view records it (``{"kind": "demo"}``, ...)."""
UPLOADS = "_uploads"
"""This session's :class:`scvi_viz.io.sources.SessionUploads`."""
LATENT_KEY = "latent_key"
"""The sidebar's choice of where the latent points come from (the model, or an ``obsm`` entry)."""
EMBEDDING_KEY = "embedding_key"
"""The sidebar's choice of the cells' map (a latent UMAP, or a 2-D ``obsm`` embedding)."""

POINT = "point"
"""The current :class:`scvi_viz.point.Point`."""
POINT_ORIGIN = "point_origin"
"""How the current point was set, in words."""
POINT_XY = "point_xy"
"""Where the point was clicked on the map, or ``None`` (then it is placed by its neighbours)."""
CLICKED = "clicked"
"""(point, origin) of the last clicked cell, for *Reset to clicked cell*."""
LAST_DECODE_MS = "last_decode_ms"
"""Duration of the last decode, shown in the model card."""

GENES = "genes"
"""The genes chosen for the per-gene panels (the gene picker's multiselect)."""
N_TOP = "n_top"
"""How many top genes the Explore page charts."""

LIBRARY_WIDGET = "w_loglib"
BATCH_WIDGET = "w_batch"
LABEL_WIDGET = "w_label"
CATEGORICAL_WIDGET = "w_cat::"
"""Prefix: followed by the covariate's name."""
CONTINUOUS_WIDGET = "w_cont::"
"""Prefix: followed by the covariate's name."""
LATENT_WIDGET = "latent"
LATENT_MOVE = "latent_move"
"""Number of the last latent-slider move applied (see ``components/latent_sliders.js``)."""

EMBEDDING = "embedding"
COLOR_BY = "color_by"
OVERLAY_GENE = "overlay_gene"
SHOW_TABLE = "show_table"
OVERLAY_SET = "overlay_set"
"""The gene set the map is coloured by."""
GENE_SETS = "gene_sets"
"""The view's gene sets: name -> genes (see ``ui/gene_sets.py``)."""
SLIDER_SET = "slider_set"
"""The walk's sliders: ``"dimensions"`` (one per latent dimension) or ``"axes"`` (the cells' principal axes)."""
DIRECTION = "direction"
"""The named slider: ``{"kind": "toward" | "between" | "more", "start": z, ...}`` (see ``ui/directions.py``)."""
SHOW_TRAVERSAL = "show_traversal"
"""Whether Explore shows the traversal chart of one slider."""
EXPLORE_VIEW = (EMBEDDING, COLOR_BY, OVERLAY_GENE, N_TOP, SHOW_TABLE, POINT_XY, OVERLAY_SET, GENE_SETS, SLIDER_SET,
                DIRECTION, SHOW_TRAVERSAL)
"""The Explore page's choices besides the point and genes (and where its x was clicked): saved in a
view's ``extras`` and restored."""

COMPARE_SECTIONS = ("cmp_point", "cmp_group")
"""The Compare page's two sections (their widget-key prefixes): at the current point, for a group."""


def restored_cells(group: str) -> str:
    """Where a group picker (widget-key prefix ``group``) keeps the cell ids of a map selection that
    a saved view brought back, until a new one is drawn."""
    return f"{group}_restored_cells"


def compare_view(section: str) -> str:
    """Where a Compare section keeps what it last showed (covariate, values, minimum, group), for views."""
    return f"_view_{section}"

TRAJECTORY_START = "traj_start"
"""The Trajectory page's start A: ``{"kind": "cell", "cell": id}`` or ``{"kind": "group", "column": c, "category": v}``."""
TRAJECTORY_END = "traj_end"
"""The Trajectory page's end B, as :data:`TRAJECTORY_START`."""
TRAJECTORY_KIND = "traj_kind"
"""``"graph"`` (through the cells) or ``"straight"`` (a line in latent space)."""
TRAJECTORY_STEPS = "traj_steps"
"""Number of steps the path is resampled to."""
TRAJECTORY_STEP = "traj_step"
"""The current step (0 = start A)."""
TRAJECTORY_GENES = "traj_genes"
"""Which genes the Trajectory page charts: ``"changing"`` (most along the path) or ``"chosen"``."""
TRAJECTORY_VIEW = (TRAJECTORY_START, TRAJECTORY_END, TRAJECTORY_KIND, TRAJECTORY_STEPS, TRAJECTORY_STEP, TRAJECTORY_GENES)
"""The Trajectory page's state, JSON-able values only: saved in a view's ``extras`` and restored."""

DE_VIEW = ("de_group1_how", "de_group1_column", "de_group1_category", "de_group2_rest", "de_group2_how",
           "de_group2_column", "de_group2_category", "de_batch_mode", "de_batch", "de_delta", "de_fdr", "de_samples")
"""The differential expression page's choices (its two groups, as obs categories, and its settings)."""
DE_BATCH_MODES = ("each cell's own", "every batch (corrected)", "one fixed batch")
"""The DE page's choices of the batch decoded in, as its widget shows (and a view records) them."""
FIT_VIEW = ("fit_which", "fit_group_how", "fit_group_column", "fit_group_category")
"""The model-fit page's choice of cells."""
