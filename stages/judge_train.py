"""DVC stage `judge_train`: a thin entry point; the logic is `careal judge-train` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["judge-train", *sys.argv[1:]])
