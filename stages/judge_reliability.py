"""DVC stage `judge_reliability`: a thin entry point; the logic is `careal judge-reliability` (careal/pipeline.py)."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["judge-reliability", *sys.argv[1:]])
