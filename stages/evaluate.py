"""DVC stage `evaluate`: a thin entry point; the logic is `careal evaluate` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["evaluate", *sys.argv[1:]])
