"""Plotly figures built from plain arrays and DataFrames, and their exports (PNG/SVG/PDF,
HTML, CSV, report bundles)."""
