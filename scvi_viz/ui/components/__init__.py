"""scvi-viz's own Streamlit components: each ``.js`` (and ``.css``) beside the one Python module
that registers it and gives it a typed call."""

from pathlib import Path


def asset(name: str) -> str:
    """The text of the component file ``name`` in this folder."""
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


def script(*names: str) -> str:
    """The component files ``names`` as one script (shared helpers such as ``messages.js`` first)."""
    return "\n".join(asset(name) for name in names)
