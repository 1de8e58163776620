"""Specks: small spots of a colour that the prompt does not have, in a prior's 2D samples.

A bundled-world object has one colour throughout, shaded only in brightness, on white. So
a saturated pixel whose hue is far from the prompt's colour is an artefact. The version-1
prior drew such a speck at about the same place in nearly every sample
(docs/bundled-world-v2.md); this check counts the samples that have one.
"""
from __future__ import annotations

import colorsys

import numpy as np
import torch

from dream3d.eval.colour import hue, hue_distance
from dream3d.prior.catalog import COLOURS

SPECK_SATURATION = 0.25
"""A pixel this saturated has a clear hue."""
SPECK_HUE_DISTANCE = 1.0 / 6.0
"""... and is off-colour when its hue is this far (60 degrees) from the prompt's."""
SPECK_PIXELS = 3
"""A sample with at least this many off-colour pixels has a speck."""


def off_colour_pixels(image: torch.Tensor, colour: str) -> int:
    """How many pixels of ``image [3,H,W]`` (in [0,1]) are saturated and far in hue from ``colour``."""
    rgb = image.permute(1, 2, 0).reshape(-1, 3).clamp(0, 1).double().numpy()
    hsv = np.array([colorsys.rgb_to_hsv(*pixel) for pixel in rgb])
    target = hue(np.array(COLOURS[colour]))
    far = np.array([hue_distance(h, target) > SPECK_HUE_DISTANCE for h in hsv[:, 0]])
    return int((far & (hsv[:, 1] > SPECK_SATURATION) & (hsv[:, 2] > 0.1)).sum())


def has_speck(image: torch.Tensor, colour: str) -> bool:
    """Whether ``image`` shows at least ``SPECK_PIXELS`` off-colour pixels."""
    return off_colour_pixels(image, colour) >= SPECK_PIXELS
