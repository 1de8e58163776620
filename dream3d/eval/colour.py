"""Which named colour is this surface? The hue of its mean albedo, against the palette."""
from __future__ import annotations

import colorsys

import numpy as np

from dream3d.prior.catalog import COLOURS


def hue(rgb: np.ndarray) -> float:
    """HSV hue in [0,1) of one RGB colour in [0,1]."""
    return colorsys.rgb_to_hsv(*[float(c) for c in rgb])[0]


def hue_distance(a: float, b: float) -> float:
    """Distance between two hues on the colour circle, in [0, 0.5]."""
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


MIN_SATURATION = 0.15
"""Below this HSV saturation a surface is grey: it has no colour to name."""


def nearest_colour(mean_rgb: np.ndarray) -> tuple[str, dict[str, float]]:
    """The palette colour whose hue is nearest to that of ``mean_rgb`` (``"grey"`` when the
    colour is too unsaturated to have a hue) and the hue distance to each."""
    h, saturation, _ = colorsys.rgb_to_hsv(*[float(c) for c in mean_rgb])
    distances = {name: hue_distance(h, hue(np.array(rgb))) for name, rgb in COLOURS.items()}
    if saturation < MIN_SATURATION:
        return "grey", distances
    return min(distances, key=distances.get), distances
