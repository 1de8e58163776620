"""A reference image for image-to-3D: read it, find the object, centre it on white.

An RGBA image's alpha is the object's mask. An RGB image must show the object on a plain
background: the background colour is the median of the border pixels, and the background
is every pixel within ``tolerance`` of it that is connected to the border (so an object
with an inner patch of the background's colour keeps it). The object is then cropped to
its mask's bounding box, scaled so that its larger side fills ``fill`` of the image, and
placed at the centre, as DreamGaussian prepares its inputs. Photos need cutting out first
(README: "Image to 3D").
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

MIN_SIDE = 32
"""Images smaller than this (pixels, either side) carry too little to work from."""
MIN_OBJECT_FRACTION = 0.002
"""A mask covering less than this share of the image is taken as empty."""
MAX_BORDER_OBJECT = 0.25
"""An RGB image whose border is more than this share "object" has no plain background to cut
the object out by (a photo): it is refused, with advice to cut it out first."""


class ImageInputError(ValueError):
    """The reference image cannot be used; the message says why and what to do."""


@dataclass
class ImageInputConfig:
    """The input image of image-to-3D (``--image``, ``--elevation``)."""

    path: str = ""
    """An RGBA image (alpha is the mask) or an object on a plain background; empty: text-to-3D."""
    elevation: float = 0.0
    """The elevation (degrees) of the camera that took the image; its azimuth is 0 (the front)."""
    distance: float = 2.5
    """Its distance from the object (world units)."""
    size: int = 256
    """Side of the centred image the reference loss compares with."""
    fill: float = 0.8
    """Share of the image the object's larger side fills after centring; 0 keeps the image's own
    framing (for an image taken by a known camera, as the ground-truth evaluation's are)."""
    tolerance: float = 0.1
    """How far (max channel, in [0,1]) a pixel may be from a plain background's colour."""


@dataclass(frozen=True)
class ReferenceImage:
    """The object on white, ``rgb [3,S,S]`` in [0,1], and its mask ``[1,S,S]`` in {0,1}."""

    rgb: Tensor
    mask: Tensor


def read_image(path: str | Path) -> np.ndarray:
    """``[H,W,C]`` uint8, RGB (C = 3) or RGBA (C = 4); raises ``ImageInputError`` for a missing
    or unreadable file.

    Pillow decodes it. Grey, palette and CMYK images become RGB, and those with transparency
    (grey + alpha, a palette's transparent entry) RGBA. 16-bit grey is scaled by its range,
    65535, not by its brightest pixel. A camera's EXIF orientation is applied. An alpha
    channel with no transparent pixel is dropped, so an opaque RGBA image is cut out by its
    background as an RGB one is.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageInputError(f"The image '{path}' does not exist.")
    try:
        with Image.open(path) as opened:
            picture = ImageOps.exif_transpose(opened)
            picture.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise ImageInputError(f"The image '{path}' could not be read ({type(error).__name__}); use a PNG or JPEG.") from None
    if picture.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey (PNG), scaled by the format's range
        grey = np.asarray(picture, dtype=np.float64)
        grey = np.round(255.0 * grey / (65535.0 if grey.max() > 255 or picture.mode.startswith("I;16") else 255.0))
        image = np.repeat(grey.clip(0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    elif picture.mode == "F":
        image = np.repeat(np.round(255.0 * np.asarray(picture).clip(0, 1)).astype(np.uint8)[..., None], 3, axis=-1)
    else:
        transparent = "A" in picture.getbands() or "transparency" in picture.info
        image = np.asarray(picture.convert("RGBA" if transparent else "RGB"))
    if image.shape[-1] == 4 and image[..., 3].min() == 255:  # an alpha channel that masks nothing
        image = image[..., :3]
    if min(image.shape[:2]) < MIN_SIDE:
        raise ImageInputError(f"The image '{path}' is {image.shape[1]}x{image.shape[0]} pixels; "
                              f"it needs at least {MIN_SIDE} on each side.")
    return np.ascontiguousarray(image)


def background_mask(rgb: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels ``[H,W]`` within ``tolerance`` (max channel, in [0,1]) of the border's median
    colour and connected to the border."""
    from scipy import ndimage

    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float64) / 255.0
    colour = np.median(border, axis=0)
    near = np.abs(rgb.astype(np.float64) / 255.0 - colour).max(-1) <= tolerance
    labels, _ = ndimage.label(near)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def object_mask(image: np.ndarray, tolerance: float = 0.1) -> np.ndarray:
    """The object's mask ``[H,W]`` bool: alpha > 0.5, or not the plain background."""
    if image.shape[-1] == 4:
        return image[..., 3] > 127
    return ~background_mask(image[..., :3], tolerance)


def load_image_input(config: ImageInputConfig) -> ReferenceImage:
    """``load_reference_image`` with the config's settings, read once per run: the image
    condition and the reference-view loss share the result (a file changed since is read again)."""
    path = Path(config.path)
    stamp = path.stat().st_mtime_ns if path.is_file() else None
    return _load_once(str(path), stamp, config.size, config.fill, config.tolerance)


@lru_cache(maxsize=4)
def _load_once(path: str, stamp: int | None, size: int, fill: float, tolerance: float) -> ReferenceImage:
    return load_reference_image(path, size, fill, tolerance)


def load_reference_image(path: str | Path, size: int = 256, fill: float = 0.8, tolerance: float = 0.1) -> ReferenceImage:
    """Read ``path``, cut the object out, centre it on white at ``size x size``."""
    if not 0.0 <= fill <= 1.0:
        raise ImageInputError(f"system.image.fill is {fill}: the share of the image the object fills must be in "
                              "(0, 1], or 0 to keep the image's own framing.")
    image = read_image(path)
    mask = object_mask(image, tolerance)
    if image.shape[-1] == 3:
        border = np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])
        if border.mean() > MAX_BORDER_OBJECT:
            raise ImageInputError(
                f"'{path}' has no plain background: {100 * border.mean():.0f}% of its border differs from the border's "
                f"median colour by more than {tolerance} (system.image.tolerance). Cut the object out first into an "
                "RGBA PNG, e.g. `pip install rembg` and `rembg i photo.jpg in.png`.")
    if mask.mean() < MIN_OBJECT_FRACTION:
        how = "its alpha channel is (almost) all transparent" if image.shape[-1] == 4 else \
            "nothing differs from the border's colour"
        raise ImageInputError(f"No object found in '{path}': {how}. Use an RGBA image with the object opaque, "
                              "or an object on a plain background.")
    if fill <= 0:  # the image as it is, resized
        height, width = mask.shape
        if height != width:
            raise ImageInputError(f"'{path}' is {width}x{height}: keeping its framing (fill 0) needs a square image.")
        rgb = torch.from_numpy(image[..., :3].astype(np.float32) / 255.0).permute(2, 0, 1)
        alpha = torch.from_numpy(mask.astype(np.float32))[None]
        rgb = F.interpolate((rgb * alpha + 1.0 - alpha)[None], (size, size), mode="bilinear", align_corners=False,
                            antialias=True)[0]
        alpha = F.interpolate(alpha[None], (size, size), mode="bilinear", align_corners=False, antialias=True)[0]
        return ReferenceImage(rgb.clamp(0, 1), (alpha > 0.5).float())
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    rgb = torch.from_numpy(image[top:bottom, left:right, :3].astype(np.float32) / 255.0).permute(2, 0, 1)
    alpha = torch.from_numpy(mask[top:bottom, left:right].astype(np.float32))[None]
    rgb = rgb * alpha + (1.0 - alpha)  # on white
    side = max(bottom - top, right - left)
    scale = fill * size / side
    h, w = max(1, round((bottom - top) * scale)), max(1, round((right - left) * scale))
    rgb = F.interpolate(rgb[None], (h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    alpha = F.interpolate(alpha[None], (h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    canvas, coverage = torch.ones(3, size, size), torch.zeros(1, size, size)
    y, x = (size - h) // 2, (size - w) // 2
    canvas[:, y:y + h, x:x + w] = rgb.clamp(0, 1)
    coverage[:, y:y + h, x:x + w] = alpha.clamp(0, 1)
    return ReferenceImage(canvas, (coverage > 0.5).float())
