"""DVC stage `bootstrap`: a thin entry point; the logic is `careal bootstrap` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["bootstrap", *sys.argv[1:]])
