"""DVC stage `validation`: a thin entry point; the logic is `careal validation` (careal/selection.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["validation", *sys.argv[1:]])
