"""``python -m mtl_numpy ...``: the same command line as ``mtl-numpy`` (see :mod:`mtl_numpy.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
