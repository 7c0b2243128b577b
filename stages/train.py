"""DVC stage `train`: a thin entry point; the logic is `careal train` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
