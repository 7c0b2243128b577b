"""DVC stage `generate`: a thin entry point; the logic is `careal generate` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["generate", *sys.argv[1:]])
