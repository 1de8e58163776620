"""The bundled prior's training images: coloured primitives from random orbit cameras.

Images follow docs/bundled-prior.md: 64x64 RGB on white, anti-aliased by supersampling,
Lambertian shading ``albedo * (0.35 + 0.65 * max(0, n.l))`` with the light fixed in camera
space (upper left, in front of the object). Cameras come from the default
``dream3d.cameras.CameraSampler`` (the spec's dataset cameras), rays from ``Cameras.rays()``
and view words from ``Cameras.view_labels()``. Held-out (colour, shape) pairs are never
rendered.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d.cameras import CameraSampler, CameraSamplerConfig, Cameras
from dream3d.prior import primitives
from dream3d.prior.catalog import COLOURS, SHAPES, caption, is_held_out
from dream3d.render.light import AMBIENT, DIFFUSE, world_light



def seen_pairs() -> list[tuple[str, str]]:
    """The (colour, shape) pairs shown in training, in table order (40 of 48)."""
    return [(c, s) for s in SHAPES for c in COLOURS if not is_held_out(c, s)]


def render(shapes: list[str], colours: list[str], cameras: Cameras, supersample: int = 3) -> tuple[Tensor, Tensor]:
    """Render one primitive per camera.

    Returns ``rgb [B,3,H,W]`` in [0,1] on white and coverage ``alpha [B,1,H,W]``; each
    pixel averages ``supersample x supersample`` rays through a regular sub-pixel grid.
    """
    height, width = cameras.height, cameras.width
    fine = cameras.with_resolution(height * supersample, width * supersample)
    origins, directions = fine.rays()  # [B,h,w,3] each
    lights = world_light(cameras.c2w)  # [B,3]
    batch = len(cameras)
    rgb = torch.ones(batch, fine.height, fine.width, 3)
    alpha = torch.zeros(batch, fine.height, fine.width)
    for b in range(batch):
        o, d = origins[b].reshape(-1, 3), directions[b].reshape(-1, 3)
        t, hit = primitives.trace(shapes[b], o, d)
        points = o[hit] + t[hit, None] * d[hit]  # [M,3]
        normal = primitives.normals(shapes[b], points)  # [M,3]
        shade = AMBIENT + DIFFUSE * (normal @ lights[b]).clamp_min(0.0)  # [M]
        albedo = torch.tensor(COLOURS[colours[b]])
        flat_rgb, flat_alpha = rgb[b].view(-1, 3), alpha[b].view(-1)
        flat_rgb[hit] = (albedo[None] * shade[:, None]).clamp(0.0, 1.0)
        flat_alpha[hit] = 1.0
    rgb = F.avg_pool2d(rgb.permute(0, 3, 1, 2), supersample)  # [B,3,H,W]
    alpha = F.avg_pool2d(alpha[:, None], supersample)  # [B,1,H,W]
    return rgb, alpha


@dataclass
class ShapesDataConfig:
    """What the dataset renders."""

    views_per_pair: int = 256
    """Random cameras rendered for each of the 40 seen (colour, shape) pairs."""
    supersample: int = 3
    """Rays per pixel along each axis (anti-aliasing)."""
    seed: int = 0
    """Seed of the camera generator."""
    cameras: CameraSamplerConfig = field(default_factory=CameraSamplerConfig)
    """The dataset cameras: the default sampler of the CPU configs (spec)."""
    zoom_groups: int = 1
    """Scale augmentation: each pair's views are split into this many groups of equal size,
    each rendered at one zoom (1: every view at the sampler's field of view, no augmentation)."""
    zoom_range: tuple[float, float] = (1.0, 1.0)
    """A group's zoom is drawn log-uniformly from this range: the field of view is narrowed
    (``tan(fovy'/2) = tan(fovy/2) / zoom``) so that the object looks ``zoom`` times larger."""


@dataclass
class ShapesDataset:
    """Rendered images and what they show."""

    images: Tensor  # [N,3,H,W] uint8
    colours: list[str]  # [N]
    shapes: list[str]  # [N]
    views: list[str]  # [N] front/side/back/overhead
    cameras: Tensor | None = None  # [N,3] elevation (deg), azimuth (deg), distance of each image
    zooms: Tensor | None = None  # [N] the zoom each image was rendered at (None: all 1)

    def __len__(self) -> int:
        return self.images.shape[0]

    def float_images(self, index: Tensor | slice = slice(None)) -> Tensor:
        """Images ``[n,3,H,W]`` in [0,1]."""
        return self.images[index].float() / 255.0


def build_dataset(config: ShapesDataConfig, progress: bool = True) -> ShapesDataset:
    """Render ``views_per_pair`` random views of every seen pair (never a held-out one).

    Rendering runs on one thread: sphere tracing is many small tensor operations, which
    only stall on thread barriers when the CPU is shared.
    """
    from tqdm.auto import tqdm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    generator = torch.Generator().manual_seed(config.seed)
    sampler = CameraSampler(config.cameras)
    images, colours, shapes, views, poses = [], [], [], [], []
    pairs = seen_pairs()
    zooms = []
    for colour, shape in tqdm(pairs, desc="render dataset", disable=not progress):
        cameras = sampler.sample(generator=generator, batch_size=config.views_per_pair)
        if config.zoom_groups > 1:
            cameras, zoom = zoomed(cameras, config.zoom_groups, config.zoom_range, generator)
            zooms.append(zoom)
        for start in range(0, len(cameras), 32):
            chunk = cameras[start:start + 32]
            rgb, _ = render([shape] * len(chunk), [colour] * len(chunk), chunk, config.supersample)
            images.append((rgb * 255.0).round().to(torch.uint8))
        colours += [colour] * len(cameras)
        shapes += [shape] * len(cameras)
        views += cameras.view_labels()
        poses.append(torch.stack([cameras.elevation, cameras.azimuth, cameras.distance], -1))
    torch.set_num_threads(threads)
    return ShapesDataset(torch.cat(images), colours, shapes, views, torch.cat(poses).float(),
                         torch.cat(zooms) if zooms else None)


def zoomed(cameras: Cameras, groups: int, zoom_range: tuple[float, float],
           generator: torch.Generator) -> tuple[Cameras, Tensor]:
    """``cameras`` in ``groups`` consecutive groups of equal size, each with one zoom drawn
    log-uniformly from ``zoom_range``; returns the zoomed cameras and each one's zoom ``[B]``."""
    if len(cameras) % groups:
        raise ValueError(f"{len(cameras)} views do not split into {groups} zoom groups")
    low, high = torch.log(torch.tensor(zoom_range, dtype=torch.float32))
    zoom = torch.exp(low + (high - low) * torch.rand(groups, generator=generator))
    zoom = zoom.repeat_interleave(len(cameras) // groups)  # [B]
    half = torch.deg2rad(cameras.fovy) / 2
    fovy = torch.rad2deg(2 * torch.atan(torch.tan(half) / zoom))
    return Cameras(cameras.c2w, fovy, cameras.elevation, cameras.azimuth, cameras.distance, cameras.height,
                   cameras.width), zoom


@dataclass
class CaptionConfig:
    """How a training caption is drawn for an image (spec: captions)."""

    p_empty: float = 0.10
    """Empty caption, for classifier-free guidance (Ho & Salimans 2022)."""
    p_shape_only: float = 0.08
    """Partial caption naming only the shape: "a cube, side view"."""
    p_colour_only: float = 0.08
    """Partial caption naming only the colour: "a red object, side view"."""
    p_no_view: float = 0.15
    """Of the non-empty captions, the fraction without the view suffix."""


def draw_caption(colour: str, shape: str, view: str, rng: random.Random, config: CaptionConfig = CaptionConfig()) -> str:
    """One caption for an image of a ``colour`` ``shape`` seen from ``view``."""
    u = rng.random()
    if u < config.p_empty:
        return ""
    suffix = None if rng.random() < config.p_no_view else view
    if u < config.p_empty + config.p_shape_only:
        return caption(None, shape, suffix)
    if u < config.p_empty + config.p_shape_only + config.p_colour_only:
        return caption(colour, None, suffix)
    return caption(colour, shape, suffix)


def vocabulary() -> list[str]:
    """Every word a caption can contain, sorted (commas are punctuation, not words)."""
    words = {"a", "an", "object", "view", *COLOURS, *SHAPES, "front", "side", "back", "overhead"}
    return sorted(words)
