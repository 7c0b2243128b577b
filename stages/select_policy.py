"""DVC stage `select`: a thin entry point; the logic is `careal select` (careal/selection.py).

Not named select.py: stages/ is first on sys.path when DVC runs a stage script, and a
stages/select.py would hide the standard library module select."""

import sys

from careal.cli import main

if __name__ == "__main__":
    main(["select", *sys.argv[1:]])
