"""Choose the volume renderer: nerfacc's estimator on CUDA, the torch sampler otherwise."""
from __future__ import annotations

from torch import nn

from dream3d.optional import announce_backend, cuda_available, nerfacc_occupancy_grid
from dream3d.render.shading import ShadingConfig
from dream3d.render.volume import VolumeRenderer, VolumeRendererConfig
from dream3d.scene.background import Background
from dream3d.scene.nerf import NeRFField

BACKENDS = ("auto", "torch", "nerfacc")


def build_volume_renderer(field_: NeRFField, background: Background, config: VolumeRendererConfig, shading: ShadingConfig) -> nn.Module:
    """The renderer for ``config.backend``; ``auto`` uses nerfacc only when it can run."""
    if config.backend not in BACKENDS:
        raise ValueError(f"renderer.backend must be one of {BACKENDS}, got {config.backend!r}")
    use_nerfacc = config.backend == "nerfacc" or (
        config.backend == "auto" and cuda_available() and nerfacc_occupancy_grid() is not None
    )
    if use_nerfacc:
        from dream3d.render.volume_nerfacc import NerfaccVolumeRenderer

        announce_backend("volume renderer", "nerfacc OccGridEstimator (CUDA)")
        return NerfaccVolumeRenderer(field_, background, config, shading)
    announce_backend("volume renderer", "torch stratified sampling + occupancy mask")
    return VolumeRenderer(field_, background, config, shading)
