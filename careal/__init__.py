"""careal: iterative preference alignment of medical chat assistants, tracked with DVC.

Each module holds one concern; the DVC stages in ``stages/`` are thin entry points into
``careal.cli``. Heavy libraries (torch, transformers, trl) are imported only inside the
functions that need them, so ``careal --help`` and the data/metrics code stay fast.
"""

__version__ = "0.1.0"

import os as _os

# trl's trainers send usage telemetry to huggingface.co when they start (huggingface_hub's
# send_telemetry): careal's default configuration makes no network connection, so telemetry is
# off unless the user turns it on explicitly (HF_HUB_DISABLE_TELEMETRY=0). Set before any
# huggingface_hub import, which reads it once.
_os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
