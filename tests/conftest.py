"""Shared fixtures: the real CARES rows beside the repo, and a tiny policy built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = Path(os.environ.get("CAREAL_SHARED_DATA", ROOT.parent / "shared" / "data")) / "cares18k-test-sample300.jsonl"


@pytest.fixture(scope="session")
def real_rows_path() -> Path:
    if not SHARED_SAMPLE.exists():
        pytest.skip(f"real CARES sample not found at {SHARED_SAMPLE} (set CAREAL_SHARED_DATA)")
    return SHARED_SAMPLE


def small_params(tmp_base: Path | None = None):
    """Params for a fast run: a very small tiny model and few prompts."""
    from careal.params import parse_params

    return parse_params(
        {
            "seed": 0,
            "data": {"builtin_base_prompts_per_cell": 2, "train_size": 32, "eval_size": 32},
            "bootstrap": {"vocab_size": 600, "hidden_size": 64, "intermediate_size": 128, "num_layers": 2, "num_heads": 2, "sft_repeats": 2, "sft_epochs": 8, "sft_batch_size": 16},
            "generate": {"samples": 4, "temperature": 3.0, "max_new_tokens": 16, "batch_size": 32},
            "train": {"method": "kto", "batch_size": 8, "max_length": 128},
            "evaluate": {"policies": ["c0", "c1", "c2"], "max_new_tokens": 16, "batch_size": 16},
            "cycles": {"c1": {"prev": "c0"}, "c2": {"prev": "c1"}},
        }
    )


@pytest.fixture(scope="session")
def reduced_run(tmp_path_factory) -> dict:
    """One `dvc repro` of the reduced embedded default, network blocked and fake keys planted,
    shared by the end-to-end modules (tests/reduced.py). Read it; change only a copy_of(it)."""
    from tests.reduced import make_reduced_run

    return make_reduced_run(tmp_path_factory.mktemp("reduced_run") / "careal")


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory):
    """A project folder with prepared data and a bootstrapped tiny model (built once)."""
    from careal import pipeline

    project = tmp_path_factory.mktemp("project")
    old = os.getcwd()
    os.chdir(project)
    try:
        params = small_params()
        pipeline.run_prepare(params)
        pipeline.run_bootstrap(params)
    finally:
        os.chdir(old)
    return project
