"""DVC stage `judge`: a thin entry point; the logic is `careal judge` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["judge", *sys.argv[1:]])
