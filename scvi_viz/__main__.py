"""``python -m scvi_viz``: see :mod:`scvi_viz.cli`."""

import sys

from scvi_viz.cli import main

if __name__ == "__main__":
    sys.exit(main())
