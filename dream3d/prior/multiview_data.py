"""The bundled multi-view prior's training images: world-v2 objects in MVDream's 4-view layout.

MVDream (Shi et al. 2023, arXiv:2308.16512) trains on groups of ``V`` renders of one object
at azimuths ``a + k·360°/V`` around a random base camera, one shared elevation and distance.
Here each seen (colour, shape) pair gets ``groups_per_pair`` such groups from the bundled
prior's dataset cameras (``CameraSamplerConfig`` with ``views = V``), rendered as
``shapes_data.render`` does (64x64 on white, supersampled, the spec's lighting). Images are
object-major: the ``V`` views of a group are adjacent, as the multi-view prior takes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from dream3d.cameras import CameraSampler, CameraSamplerConfig
from dream3d.prior.shapes_data import render, seen_pairs


@dataclass
class MultiViewDataConfig:
    """What the multi-view dataset renders."""

    groups_per_pair: int = 32
    """View groups rendered for each of the 40 seen (colour, shape) pairs."""
    views: int = 4
    """Views per group, at azimuths a + k·360°/views."""
    supersample: int = 3
    """Rays per pixel along each axis (anti-aliasing)."""
    seed: int = 0
    """Seed of the camera generator."""
    cameras: CameraSamplerConfig = field(default_factory=CameraSamplerConfig)
    """The base cameras: the bundled prior's dataset cameras (``views`` is set from above)."""


@dataclass
class MultiViewDataset:
    """Rendered view groups and what they show; ``N = groups · views`` images, object-major."""

    images: Tensor  # [N,3,H,W] uint8
    c2w: Tensor  # [N,4,4] camera-to-world (OpenCV axes, dream3d's world)
    colours: list[str]  # [G] one per group
    shapes: list[str]  # [G]
    views: int

    @property
    def groups(self) -> int:
        return len(self.colours)

    def group_images(self, groups: Tensor) -> Tensor:
        """The flat image indices ``[len(groups)·V]`` of the given groups, object-major."""
        return (groups[:, None] * self.views + torch.arange(self.views)[None]).reshape(-1)


def build_multiview_dataset(config: MultiViewDataConfig, progress: bool = True) -> MultiViewDataset:
    """Render ``groups_per_pair`` view groups of every seen pair (never a held-out one), on one
    thread (sphere tracing is many small operations; see ``shapes_data.build_dataset``)."""
    from dataclasses import replace

    from tqdm.auto import tqdm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = CameraSampler(replace(config.cameras, views=config.views))
    images, c2w, colours, shapes = [], [], [], []
    chunk = 8 * config.views
    for colour, shape in tqdm(seen_pairs(), desc="render view groups", disable=not progress):
        cameras = sampler.sample(generator=generator, batch_size=config.groups_per_pair)  # [G·V]
        for start in range(0, len(cameras), chunk):
            part = cameras[start:start + chunk]
            rgb, _ = render([shape] * len(part), [colour] * len(part), part, config.supersample)
            images.append((rgb * 255.0).round().to(torch.uint8))
        c2w.append(cameras.c2w.float())
        colours += [colour] * config.groups_per_pair
        shapes += [shape] * config.groups_per_pair
    torch.set_num_threads(threads)
    return MultiViewDataset(torch.cat(images), torch.cat(c2w), colours, shapes, config.views)
