"""Run times that peers published, for the results table: not measured here.

Each entry names its source; the hardware is what the source states. Only figures with a
source are listed.
"""
from __future__ import annotations

PUBLISHED: list[dict] = [
    {
        "method": "DreamFusion (Imagen)",
        "time": "~1.5 h per asset",
        "hardware": "TPUv4 (4 chips)",
        "source": "Poole et al. 2022, DreamFusion, arXiv:2209.14988 (appendix A); the 1.5 h average is also quoted in "
                  "the Magic3D abstract, arXiv:2211.10440",
    },
    {
        "method": "Magic3D (eDiff-I + LDM)",
        "time": "40 min per asset (coarse + fine)",
        "hardware": "8x A100",
        "source": "Lin et al. 2023, Magic3D, arXiv:2211.10440 (abstract: 40 minutes, 2x faster than DreamFusion)",
    },
    {
        "method": "DreamGaussian (SD 2.1 / Zero-1-to-3)",
        "time": "~2 min per textured mesh (stage 1 + stage 2)",
        "hardware": "one V100",
        "source": "Tang et al. 2023, DreamGaussian, arXiv:2309.16653 (abstract: 'in just 2 minutes', stated for "
                  "image-to-3D; text-to-3D uses the same two stages)",
    },
    {
        "method": "DreamGaussian, text-to-3D at batch 16",
        "time": "11 min",
        "hardware": "one GPU (model not stated in the figure)",
        "source": "Zhou et al. 2023, DreamPropeller, arXiv:2311.17082, Figure 1",
    },
    {
        "method": "ProlificDreamer (SD 2.1, VSD)",
        "time": "9 h 28 min for 'a pineapple' (all stages)",
        "hardware": "one GPU (model not stated in the figure)",
        "source": "Zhou et al. 2023, DreamPropeller, arXiv:2311.17082, Figure 1",
    },
    {
        "method": "ProlificDreamer, official code, default config",
        "time": "~9 h (user report)",
        "hardware": "RTX 4090",
        "source": "github.com/thu-ml/prolificdreamer issue #23",
    },
    {
        "method": "DreamFusion with Stable Diffusion (DreamFusionAcc)",
        "time": "~30 min",
        "hardware": "RTX 3090",
        "source": "github.com/chinhsuanwu/dreamfusionacc README",
    },
]
"""Peer run times with their sources ("published, not measured here")."""
