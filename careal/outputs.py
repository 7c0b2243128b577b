"""A stage's outputs as one set: after a crash (even SIGKILL) at any point, a stage's outputs
are either all from before or all new, never a mix.

How (a small write-ahead commit):

1. Inside ``with output_set("pair@c1"):`` (or a function decorated with ``@stage_outputs``),
   every careal writer (``jsonio.atomic_path``, ``atomic_dir``, ``write_jsonl``,
   ``write_json``) writes to a hidden temporary sibling (``.<name>.<pid>.<random>.careal-tmp``)
   and *registers* it instead of renaming it into place. Reading a registered path inside the
   same set reads the pending temporary (``resolve``), so a stage can read what it wrote.
2. When the block ends without error, the set is committed: a journal listing every
   (temporary, final) pair is written atomically to ``.careal/commits/<stage>.json``; then
   each temporary is renamed onto its final path (an existing folder is first moved aside to a
   hidden trash name); then the journal is removed and the trash deleted.
3. ``recover()`` runs before every stage: a journal still present means a commit was cut
   short after every new output was complete, so it is rolled forward (the remaining renames
   are done); temporaries of processes that are gone and have no journal are deleted.

So a kill before the journal exists leaves the old outputs untouched (the temporaries are
hidden and are cleaned later); a kill after it leaves a journal that the next careal stage
(or ``dvc repro``, which runs one) completes. Writes into a folder that is itself a pending
temporary are renamed at once: the whole folder becomes visible in one step later.

``CAREAL_FAULT_POINT=<stage>:<point>`` (points: ``start``, ``written``, ``journal``,
``renamed-1``) makes the process SIGKILL itself there: the tests use it to prove the above.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import shutil
import signal
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

JOURNAL_DIR = Path(".careal") / "commits"
TMP_SUFFIX = ".careal-tmp"
TRASH_SUFFIX = ".careal-old"
FAULT_ENV = "CAREAL_FAULT_POINT"

_current: contextvars.ContextVar["OutputSet | None"] = contextvars.ContextVar("careal_output_set", default=None)


def fault_point(stage: str, point: str) -> None:
    """Test hook: SIGKILL this process when CAREAL_FAULT_POINT names ``stage:point``."""
    if os.environ.get(FAULT_ENV) == f"{stage}:{point}":
        os.kill(os.getpid(), signal.SIGKILL)


def temp_sibling(path: Path, *, directory: bool) -> Path:
    """An empty hidden temporary file or folder beside ``path``, named after this process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{os.getpid()}."
    if directory:
        return Path(tempfile.mkdtemp(prefix=prefix, suffix=TMP_SUFFIX, dir=path.parent))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def move_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` onto ``final``; an existing folder at ``final`` is moved aside first
    (one rename, so ``final`` is never a half-deleted folder) and deleted afterwards."""
    trash = None
    if final.is_dir() and not final.is_symlink():
        trash = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}{TRASH_SUFFIX}")
        os.replace(final, trash)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    if trash is not None:
        _remove(trash)


class OutputSet:
    """The pending outputs of one stage run (see the module doc)."""

    def __init__(self, stage: str):
        self.stage = stage
        self.pending: list[tuple[Path, Path]] = []  # (temporary, final), in write order

    def _inside_pending_dir(self, final: Path) -> bool:
        final = final.absolute()
        return any(tmp.is_dir() and final.is_relative_to(tmp.absolute()) for tmp, _ in self.pending)

    def register(self, tmp: Path, final: Path) -> None:
        if self._inside_pending_dir(final):
            move_into_place(tmp, final)
            return
        self.pending = [(t, f) for t, f in self.pending if f.absolute() != final.absolute()]
        self.pending.append((tmp, final))

    def resolve(self, path: Path) -> Path:
        for tmp, final in reversed(self.pending):
            if final.absolute() == path.absolute():
                return tmp
        return path

    def discard(self) -> None:
        for tmp, _ in self.pending:
            _remove(tmp)
        self.pending = []

    def commit(self) -> None:
        fault_point(self.stage, "written")
        if not self.pending:
            return
        journal = JOURNAL_DIR / f"{self.stage.replace('/', '_')}.json"
        journal.parent.mkdir(parents=True, exist_ok=True)
        body = {"stage": self.stage, "moves": [[str(t), str(f)] for t, f in self.pending]}
        fd, tmp_journal = tempfile.mkstemp(prefix=f".{journal.name}.", suffix=TMP_SUFFIX, dir=journal.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_journal, journal)
        _fsync_dir(journal.parent)
        fault_point(self.stage, "journal")
        for number, (tmp, final) in enumerate(self.pending, start=1):
            if tmp.exists() or not final.exists():  # else a concurrent recover() moved it already
                move_into_place(tmp, final)
            fault_point(self.stage, f"renamed-{number}")
        journal.unlink(missing_ok=True)
        self.pending = []


def current() -> OutputSet | None:
    """The output set of the running stage, if any."""
    return _current.get()


def resolve(path) -> Path:
    """``path``, or the pending temporary that will replace it in the running output set."""
    active = _current.get()
    return active.resolve(Path(path)) if active is not None else Path(path)


@contextlib.contextmanager
def output_set(stage: str) -> Iterator[OutputSet]:
    """Collect every careal write inside the block and commit them together at its end."""
    recover()
    fault_point(stage, "start")
    outputs = OutputSet(stage)
    token = _current.set(outputs)
    try:
        yield outputs
        outputs.commit()
    except BaseException:
        outputs.discard()
        raise
    finally:
        _current.reset(token)


def stage_outputs(name):
    """Decorator for a stage function ``f(params, arg=None)``: its writes form one output set
    named ``<name>@<arg>`` (or ``<name>``)."""

    def wrap(function):
        @functools.wraps(function)
        def run(params, *args, **kwargs):
            label = f"{name}@{args[0]}" if args else name
            with output_set(label):
                return function(params, *args, **kwargs)

        return run

    return wrap


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(roots=("data", "models", "metrics", ".careal")) -> dict:
    """Finish commits that were cut short and delete temporaries of dead processes.

    Returns counts (``rolled_forward`` journals, ``removed`` temporaries) for logs and tests.
    """
    done = {"rolled_forward": 0, "removed": 0}
    if JOURNAL_DIR.is_dir():
        for journal in sorted(JOURNAL_DIR.glob("*.json")):
            try:
                moves = json.loads(journal.read_text(encoding="utf-8"))["moves"]
            except (OSError, ValueError, KeyError):
                continue  # written atomically: a broken journal is not ours
            for tmp, final in moves:
                tmp, final = Path(tmp), Path(final)
                if tmp.exists():
                    with contextlib.suppress(FileNotFoundError):
                        move_into_place(tmp, final)
            with contextlib.suppress(FileNotFoundError):
                journal.unlink()
            done["rolled_forward"] += 1
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for path in list(root.rglob(f"*{TMP_SUFFIX}")) + list(root.rglob(f"*{TRASH_SUFFIX}")):
            parts = path.name.split(".")
            # .<name>.<pid>.<random>.careal-tmp: the pid is the third part from the end.
            pid = parts[-3] if len(parts) >= 4 else ""
            if path.name.endswith(TRASH_SUFFIX) or (pid.isdigit() and not _pid_alive(int(pid))):
                _remove(path)
                done["removed"] += 1
    return done
