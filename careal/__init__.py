"""careal: iterative preference alignment of medical chat assistants, tracked with DVC.

Each module holds one concern; the DVC stages in ``stages/`` are thin entry points into
``careal.cli``. Heavy libraries (torch, transformers, trl) are imported only inside the
functions that need them, so ``careal --help`` and the data/metrics code stay fast.
"""

__version__ = "0.1.0"
