"""DVC stage `prepare`: a thin entry point; the logic is `careal prepare` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["prepare", *sys.argv[1:]])
