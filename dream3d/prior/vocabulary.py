"""Closed vocabularies: the bundled priors know only their caption words.

``vocabulary.json`` beside a prior's weights lists them. A prompt with any other word is
refused before anything loads (spec: out-of-vocabulary prompts must not silently become
unknown tokens). Words are runs of Unicode letters and digits (with inner apostrophes),
lower-cased, so "rëd" is reported as "rëd".
"""
from __future__ import annotations

import json
import re
from pathlib import Path

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
MAX_QUOTED = 12
"""At most this many unknown words are quoted in a refusal."""


class OutOfVocabularyError(ValueError):
    """A prompt uses words that a closed-vocabulary prior (the bundled one) never saw."""


def read_vocabulary(folder: str | Path) -> list[str] | None:
    """The words of a prior folder's ``vocabulary.json``, or None (an open vocabulary)."""
    path = Path(folder) / "vocabulary.json"
    if not path.is_file():
        return None
    return sorted(set(json.loads(path.read_text())["words"]))


def prompt_words(prompt: str) -> list[str]:
    """The lower-cased words of a prompt, in order."""
    return WORD.findall(prompt.lower())


def unknown_words(prompt: str, vocabulary: list[str]) -> list[str]:
    """Words of ``prompt`` outside ``vocabulary``, each once, in order of appearance."""
    known = set(vocabulary)
    return list(dict.fromkeys(w for w in prompt_words(prompt) if w not in known))


def check_words(prompt: str, vocabulary: list[str] | None, prior_name: str) -> None:
    """Raise ``OutOfVocabularyError`` naming the unknown words (not the whole prompt)."""
    if vocabulary is None:
        return
    unknown = unknown_words(prompt, vocabulary)
    if not unknown:
        return
    quoted = ", ".join(repr(w) for w in unknown[:MAX_QUOTED])
    more = f" and {len(unknown) - MAX_QUOTED} more" if len(unknown) > MAX_QUOTED else ""
    raise OutOfVocabularyError(
        f"The prompt uses words the prior '{prior_name}' does not know: {quoted}{more}.\n"
        f"It knows only: {', '.join(vocabulary)}.\n"
        "For open-vocabulary prompts use a real prior on a GPU, e.g. "
        "--config configs/dreamfusion-sd.yaml (system.prior.pretrained="
        "stabilityai/stable-diffusion-2-1-base)."
    )
