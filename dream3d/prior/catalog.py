"""The bundled prior's world: shapes, colours, captions and held-out pairs.

Everything here is fixed by docs/bundled-prior.md (version 1: six primitives) and
docs/bundled-world-v2.md (version 2: the mug and the chair, which have a front, and
captions with the right article); geometry lives in ``primitives.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

from dream3d.cameras import VIEW_SUFFIXES

SHAPES: tuple[str, ...] = ("sphere", "cube", "cylinder", "cone", "torus", "pyramid", "mug", "chair")
"""Shape names, in the spec's table order (the index is used by the held-out rule)."""

FEATURED: dict[str, str] = {"mug": "handle", "chair": "backrest"}
"""The shapes with a front, and the feature that shows it (world v2)."""

VOWEL_SOUNDS = ("a", "e", "i", "o", "u")
"""A word starting with one of these takes "an" (true of every word of the vocabulary)."""

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.80, 0.12, 0.10),
    "orange": (0.92, 0.50, 0.10),
    "yellow": (0.90, 0.82, 0.15),
    "green": (0.15, 0.65, 0.20),
    "blue": (0.15, 0.30, 0.85),
    "purple": (0.55, 0.20, 0.75),
}
"""Albedo of each colour name (sRGB in [0,1]), in the spec's table order."""


@dataclass(frozen=True)
class ShapePrompt:
    """A (colour, shape) pair and whether the prior saw it in training."""

    colour: str
    shape: str

    @property
    def held_out(self) -> bool:
        return is_held_out(self.colour, self.shape)

    @property
    def text(self) -> str:
        return caption(self.colour, self.shape)


def is_held_out(colour: str, shape: str) -> bool:
    """Held-out rule: (shape index + colour index) % 6 == 5 is never shown in training."""
    return (SHAPES.index(shape) + list(COLOURS).index(colour)) % 6 == 5


def article(word: str) -> str:
    """"an" before a vowel sound ("an orange mug", "an object"), else "a"."""
    return "an" if word.lower().startswith(VOWEL_SOUNDS) else "a"


def caption(colour: str | None, shape: str | None, view: str | None = None) -> str:
    """``"a {colour} {shape}"`` (or "an ...") plus the view suffix; ``None`` parts give partial captions."""
    words = []
    if colour is not None:
        words.append(colour)
    words.append(shape if shape is not None else "object")
    text = " ".join([article(words[0]), *words])
    if view is not None:
        text += VIEW_SUFFIXES[view]
    return text


def all_prompts() -> list[ShapePrompt]:
    """Every (colour, shape) pair, seen and held-out, in table order."""
    return [ShapePrompt(colour, shape) for shape in SHAPES for colour in COLOURS]


def normalise_prompt(text: str) -> str:
    """A prompt as the bundled priors were trained on it: lower case, and the right article
    before each word ("A Orange Cube" -> "an orange cube"). Other words are left as they are."""
    words = text.lower().split(" ")
    for i in range(len(words) - 1):
        if words[i] in ("a", "an") and words[i + 1]:
            words[i] = article(words[i + 1])
    return " ".join(words)


def parse_prompt(text: str) -> ShapePrompt | None:
    """The (colour, shape) named in a prompt such as "a red cube, side view", if any."""
    words = text.lower().replace(",", " ").split()
    colours = [w for w in words if w in COLOURS]
    shapes = [w for w in words if w in SHAPES]
    if len(colours) != 1 or len(shapes) != 1:
        return None
    return ShapePrompt(colours[0], shapes[0])
