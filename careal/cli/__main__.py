"""``python -m careal.cli``: the ``careal`` command (the tests, ``accelerate launch -m careal.cli``)."""

from careal.cli import main

main()
