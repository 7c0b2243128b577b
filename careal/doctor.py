"""``careal doctor``: what `dvc exp` and the DVC workflow need, checked up front with a clear
message (today: a git repository and a git identity, without which `dvc exp run` fails with an
opaque error when it commits the experiment)."""

from __future__ import annotations

import os
import subprocess


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def problems() -> list[str]:
    """Human-readable problems; empty when `dvc exp run` can work here."""
    found = []
    if _git("--version") is None:
        return ["git is not installed: DVC experiments, plots diff and metrics diff need it"]
    if _git("rev-parse", "--git-dir") is None:
        found.append("not inside a git repository: run `git init` (DVC experiments are git commits)")
    for key, env_names in (("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")), ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"))):
        if not _git("config", key) and not all(os.environ.get(n) for n in env_names):
            found.append(
                f"no git identity ({key}): `dvc exp run` will fail when it commits the experiment. "
                f"Set one for this repo only: git config {key} \"{'careal user' if key == 'user.name' else 'you@example.org'}\""
            )
    return found
