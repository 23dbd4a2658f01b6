"""The only Streamlit code of scvi-viz: caches, the shared sidebar, the current point and its
controls, gene picking, downloads, the Compare page's widgets, and the JS components.

Pages import the module they need (``from scvi_viz.ui import point``); nothing here computes
what the library below already does.
"""

from pathlib import Path

ICON = Path(__file__).parent / "assets" / "icon.png"
"""The app's page icon, shipped with the package (the app runs from a clone or an installed copy)."""
