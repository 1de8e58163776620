"""Shared fixtures: a tiny random prior saved to disk, and an isolated embedding cache."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(2)

from tiny_prior import build_tiny_prior  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_prior_dir(tmp_path_factory) -> Path:
    """A tiny random diffusers prior saved with ``save_pretrained`` (built once per session)."""
    return build_tiny_prior(tmp_path_factory.mktemp("priors") / "tiny-sd")


@pytest.fixture(scope="session")
def quick_prior(tmp_path_factory) -> Path:
    """A bundled-architecture prior from a seconds-long ``train_shapes --quick`` run (once per session)."""
    from dream3d.prior.train_shapes import main

    out = tmp_path_factory.mktemp("shapes") / "quick-prior"
    main(["--out", str(out), "--quick"])
    return out


@pytest.fixture(scope="session")
def finished_tiny_run(tiny_prior_dir, tmp_path_factory) -> Path:
    """A finished tiny DreamGaussian run (``tiny_runs.TINY``); copy it before changing it."""
    from tiny_runs import launch, run_args

    out = tmp_path_factory.mktemp("finished") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DREAM3D_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        assert launch(*run_args(tiny_prior_dir, out)) == 0
    return out


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the text-embedding cache out of the user's home directory."""
    monkeypatch.setenv("DREAM3D_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def one_thread():
    """Small tensors: one thread avoids thread-pool stalls on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
