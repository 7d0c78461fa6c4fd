"""``python -m mtl_numpy.experiments NAME [--fast] [--seeds ...] [--out DIR]``."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
