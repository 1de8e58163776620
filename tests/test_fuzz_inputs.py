"""Fuzzing what a user types: dotted overrides (keys, values and types at random), unicode and
very long prompts, run names, through the config loader and the checks before work
(``dream3d.preflight``), as ``launch.py`` runs them before any model loads. The only outcomes
allowed are a config or a clean user error (what ``dream3d.service`` turns into exit code 2);
any other exception would be a traceback. A bounded number of examples keeps it fast
(``DREAM3D_FUZZ_EXAMPLES=2000`` searches longer)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from dream3d.methods import load_config, run_config_class
from dream3d.naming import default_run_dir
from dream3d.preflight import check_run
from dream3d.service import USER_ERRORS
from dream3d.sweep.spec import flatten

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(str(p) for p in (REPO / "configs").glob("*.yaml"))
FUZZ = settings(max_examples=int(os.environ.get("DREAM3D_FUZZ_EXAMPLES", "30")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def schema_keys(method: str) -> list[str]:
    """Every dotted key of a method's run config."""
    return sorted(flatten(OmegaConf.to_container(OmegaConf.structured(run_config_class(method)))))


KEYS = sorted({key for method in ("dreamfusion", "dreamgaussian", "prolificdreamer", "texture") for key in schema_keys(method)})
WORDS = ["a", "red", "blue", "cube", "sphere", "rëd", "ｃｕｂｅ", "🙂", "dragon", "", "\u200b", "a\tb", "'", "\"", "${x}"]

values = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["true", "false", "null", "[]", "[0,0,0]", "[1, 2", "{a: 1}", "${oc.env:HOME}", "${nope}", "''", "=", "1e999"]),
    st.text(max_size=20),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.[]0123456789", min_size=1, max_size=20))
overrides = st.lists(st.one_of(st.tuples(keys, values).map("=".join), st.text(max_size=20)), max_size=4)
prompts = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
    st.tuples(st.sampled_from(WORDS), st.integers(min_value=1, max_value=3000)).map(lambda wn: " ".join([wn[0]] * wn[1])),
)


def preflight(config_path: str, items: list[str], flags: dict, run_dir: Path | None):
    """What ``launch.py`` does before any model loads; returns the config, or None after a user error."""
    try:
        config = load_config(config_path, items, flags)
        check_run(config, run_dir)
    except USER_ERRORS:
        return None
    return config


@FUZZ
@given(config_path=st.sampled_from(CONFIGS), items=overrides, prompt=prompts)
def test_random_overrides_and_prompts_give_a_config_or_a_user_error(config_path, items, prompt, tmp_path):
    preflight(config_path, items, {"system": {"prompt": prompt}}, tmp_path / "run")


@FUZZ
@given(name=st.text(max_size=40), prompt=prompts)
def test_run_directories_stay_inside_the_output_root_whatever_the_names(name, prompt, tmp_path):
    root = tmp_path / "outputs"
    config = preflight(CONFIGS[0], [], {"name": name, "output_root": str(root), "system": {"prompt": prompt}}, None)
    if config is not None:
        run_dir = default_run_dir(config)
        assert run_dir.parent.parent == root and ".." not in run_dir.relative_to(root).parts


@pytest.mark.parametrize("prompt, refusal", [
    ("rëd cube " * 2000, "'rëd'"),  # 18,000 characters: only the unknown word is quoted
    ("🙂 ‼", "no words"),
])
def test_long_and_wordless_prompts_are_refused_briefly(prompt, refusal, tmp_path):
    config = load_config(str(REPO / "configs/dreamfusion.yaml"), [], {"system": {"prompt": prompt}})
    with pytest.raises(USER_ERRORS) as error:
        check_run(config, tmp_path / "run")
    assert refusal in str(error.value) and len(str(error.value)) < 1000
