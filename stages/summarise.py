"""DVC stage `summarise`: a thin entry point; the logic is `careal summarise` (careal/metrics/summary.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["summarise", *sys.argv[1:]])
