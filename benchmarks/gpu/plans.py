"""Which configs the GPU check runs, for how many steps, at which sizes.

On a GPU the ``-sd`` configs run at their own settings: DreamGaussian's whole job, and a
window of the others' steps (``config_runs`` extrapolates). ``--smoke`` runs the same
configs on a CPU, a few steps at tiny sizes, so that CI keeps every path of the check alive.
"""
from __future__ import annotations

from pathlib import Path

from gpu.config_runs import TimedRun

SMOKE_SHRINK: dict[str, list[str]] = {
    "dreamfusion": ["system.camera.height=16", "system.camera.width=16", "system.renderer.n_samples=16",
                    "system.nerf.encoding.n_levels=2", "system.nerf.encoding.log2_hashmap_size=10",
                    "system.nerf.encoding.max_resolution=32", "export.resolution=16", "export.texture_size=32"],
    "dreamgaussian": ["system.gaussians.num_points=200", "system.resolutions=[16,16,16]",
                      "system.backproject.resolution=16", "system.texture.camera.height=16",
                      "system.texture.camera.width=16", "system.refine_steps=1", "system.sdedit.ddim_steps=2",
                      "export.resolution=16", "export.texture_size=32"],
    "texture": ["system.texture.camera.height=16", "system.texture.camera.width=16", "export.texture_size=32"],
}
SMOKE_SHRINK["prolificdreamer"] = SMOKE_SHRINK["dreamfusion"] + [
    "system.texture.camera.height=16", "system.texture.camera.width=16"]
"""Per method: the overrides that make a config run in seconds on a CPU."""


def _shrink(method: str, smoke: bool) -> list[str]:
    return SMOKE_SHRINK[method] if smoke else []


RANDOM_PRIOR = ["export.min_auto_threshold=0.05"]
"""A random-weight prior's gradients are noise and may thin the scene out: a low floor for the
automatic iso-level keeps the export (whose time is measured) from finding nothing."""


def sd_scale_runs(mesh: Path, smoke: bool) -> list[TimedRun]:
    """The four ``-sd`` configs (run with the random-weight SD 2.1-base folder)."""
    def w(gpu_window: int | None) -> int | None:
        return 3 if smoke else gpu_window

    def shrink(method: str) -> list[str]:
        return RANDOM_PRIOR + _shrink(method, smoke)

    pd_nerf, pd_texture = 25000 - 5000, 5000
    return [
        TimedRun("dreamgaussian-sd", "configs/dreamgaussian-sd.yaml", w(None), None, shrink("dreamgaussian")),
        TimedRun("dreamfusion-sd", "configs/dreamfusion-sd.yaml", w(300), 10000, shrink("dreamfusion")),
        TimedRun("prolificdreamer-sd (nerf stage)", "configs/prolificdreamer-sd.yaml", w(200), pd_nerf,
                 ["system.stage=nerf", *shrink("prolificdreamer")], group="prolificdreamer-sd"),
        TimedRun("prolificdreamer-sd (texture stage)", "configs/prolificdreamer-sd.yaml", w(50), pd_texture,
                 ["system.stage=texture", f"system.mesh_path={mesh}", *shrink("prolificdreamer")],
                 group="prolificdreamer-sd"),
        TimedRun("texture-sd", "configs/texture-sd.yaml", w(50), 5000,
                 [f"system.mesh_path={mesh}", *shrink("texture")]),
    ]


def bundled_runs(mesh: Path, smoke: bool) -> list[TimedRun]:
    """The CPU configs with the bundled prior, whole jobs (one small one in smoke mode)."""
    if smoke:
        return [TimedRun("dreamgaussian (bundled prior)", "configs/dreamgaussian-fast.yaml", 3, None,
                         _shrink("dreamgaussian", True))]
    return [
        TimedRun("dreamgaussian (bundled prior)", "configs/dreamgaussian-fast.yaml", None, None),
        TimedRun("dreamfusion (bundled prior)", "configs/dreamfusion.yaml", None, None),
        TimedRun("prolificdreamer (bundled prior)", "configs/prolificdreamer.yaml", None, None),
        TimedRun("texture (bundled prior)", "configs/texture.yaml", None, None, [f"system.mesh_path={mesh}"]),
    ]
