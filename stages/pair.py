"""DVC stage `pair`: a thin entry point; the logic is `careal pair` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["pair", *sys.argv[1:]])
