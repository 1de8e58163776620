"""Ground-truth evaluation of image-to-3D: true renders in, assets out, scored against truth.

For each (colour, shape) pair and seed, the bundled world's renderer draws the object from
the reference camera (azimuth 0, ``elevation``, distance 2.5, 40 degrees), the image-to-3D
config makes an asset from that image (keeping its framing, so the asset's size is the
truth's; ``--fill`` re-frames it as a user's image would be), and the asset is scored:

- as any asset (``evaluate_run``): shape, colour, surface metrics, genus, Janus flags;
- on 8 novel views at azimuths 22.5 + 45k degrees, none of them the input's: PSNR, SSIM
  and mask IoU of the lit asset (``mesh_views``) against true renders (``novel_views``).

``python -m dream3d.eval --image-batch PAIRS.txt --config configs/dreamgaussian-image.yaml``
(a file of "a {colour} {shape}" lines) writes ``image_eval.md`` and ``image_eval.json``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dream3d.cameras import Cameras
from dream3d.eval.batch import run_seconds
from dream3d.eval.evaluate import EvalError, evaluate_run, find_mesh, load_world_mesh
from dream3d.eval.mesh_views import render_asset
from dream3d.eval.novel_views import score_views
from dream3d.eval.summary import mean, number, rate, share
from dream3d.prior.catalog import parse_prompt
from dream3d.prior.shapes_data import render

REFERENCE_DISTANCE, REFERENCE_FOVY = 2.5, 40.0
NOVEL_AZIMUTHS = tuple(22.5 + 45.0 * k for k in range(8))


def reference_cameras(elevation: float, size: int) -> Cameras:
    return Cameras.from_spherical(torch.tensor([elevation]), torch.tensor([0.0]), torch.tensor([REFERENCE_DISTANCE]),
                                  REFERENCE_FOVY, size, size)


def novel_cameras(elevation: float, size: int) -> Cameras:
    n = len(NOVEL_AZIMUTHS)
    return Cameras.from_spherical(torch.full((n,), elevation), torch.tensor(NOVEL_AZIMUTHS),
                                  torch.full((n,), REFERENCE_DISTANCE), REFERENCE_FOVY, size, size)


def true_image(colour: str, shape: str, elevation: float, size: int = 256) -> np.ndarray:
    """The input: an RGBA uint8 render of the true object from the reference camera."""
    rgb, alpha = render([shape], [colour], reference_cameras(elevation, size), supersample=2)
    rgba = torch.cat([rgb[0], alpha[0]]).permute(1, 2, 0)
    return (rgba.clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


@dataclass
class ImageRow:
    """One asset's scores."""

    prompt: str
    seed: int
    held_out: bool
    passed: bool
    shape: str
    colour: str
    psnr: float
    ssim: float
    mask_iou: float
    janus: bool | None
    oriented: bool | None
    normal_consistency: float | None = None
    fscore: float | None = None
    genus_correct: bool | None = None
    seconds: float | None = None
    """Wall time of the run (its ``metrics.json``)."""


def score_asset(run_dir: Path, prompt: str, seed: int, elevation: float, size: int = 64) -> ImageRow:
    """Score one finished image-to-3D run against the truth."""
    pair = parse_prompt(prompt)
    if pair is None:
        raise EvalError(f"'{prompt}' does not name one colour and one shape of the bundled world.")
    result = evaluate_run(run_dir, prompt)
    cameras = novel_cameras(elevation, size)
    rgb, alpha = render_asset(load_world_mesh(find_mesh(run_dir)), cameras)
    true_rgb, true_alpha = render([pair.shape] * len(cameras), [pair.colour] * len(cameras), cameras, supersample=3)
    views = score_views(rgb, alpha, true_rgb, true_alpha)
    return ImageRow(prompt, seed, pair.held_out, bool(result.passed), result.predicted_shape, result.predicted_colour,
                    views.psnr, views.ssim, views.mask_iou, result.janus, result.oriented, result.normal_consistency,
                    result.fscore, result.genus_correct, run_seconds(run_dir))


def run_image_batch(prompts: list[str], config: str, overrides: list[str], out_dir: Path, seeds: tuple[int, ...] = (0, 1),
                    elevation: float = 15.0, fill: float = 0.0) -> list[ImageRow]:
    """Make and score an asset per prompt and seed (finished runs are scored, not remade).

    ``fill`` 0 keeps each input's framing, so the asset's size is the truth's; ``fill > 0``
    re-frames the input as a user's image is (``ImageInputConfig.fill``), so the asset's size
    is what that framing implies, and the novel views score it at that size."""
    import imageio.v2 as imageio

    from dream3d.methods import load_config
    from dream3d.naming import slugify
    from dream3d.service import guarded, train

    rows = []
    for prompt in prompts:
        pair = parse_prompt(prompt)
        if pair is None:
            raise EvalError(f"'{prompt}' does not name one colour and one shape of the bundled world.")
        image = out_dir / "inputs" / f"{slugify(prompt)}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        imageio.imwrite(image, true_image(pair.colour, pair.shape, elevation))
        for seed in seeds:
            run_dir = out_dir / f"{slugify(prompt)}@seed{seed}"
            if not (run_dir / "mesh" / "model.glb").is_file():
                extra = {"seed": seed, "system": {"prompt": prompt, "image": {"path": str(image), "elevation": elevation,
                                                                             "fill": fill}}}
                guarded(lambda: train(load_config(config, overrides, extra), run_dir, overwrite=True))  # noqa: B023
            if (run_dir / "mesh" / "model.glb").is_file():
                rows.append(score_asset(run_dir, prompt, seed, elevation))
    write_report(rows, out_dir)
    return rows


def summarise(rows: list[ImageRow]) -> dict:
    """Pass rates, mean novel-view scores and the Janus rate, seen and held-out apart, with sample sizes."""
    out: dict = {}
    for split, held_out in (("seen", False), ("held_out", True)):
        part = [asdict(r) for r in rows if r.held_out == held_out]
        out[split] = {"assets": len(part), "pass": rate(part, "passed"), "janus": rate(part, "janus"),
                      "oriented": rate(part, "oriented"), "genus_correct": rate(part, "genus_correct"),
                      **{key: mean(part, key) for key in ("psnr", "ssim", "mask_iou", "normal_consistency", "fscore",
                                                          "seconds")}}
    return out


def yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def write_report(rows: list[ImageRow], out_dir: Path) -> None:
    from dream3d.atomic import write_text

    summary = summarise(rows)
    lines = ["| prompt | seed | split | shape | colour | pass | PSNR | SSIM | mask IoU | NC | F@0.05 | genus right | "
             "Janus | oriented | time (s) |", "|---" * 15 + "|"]
    for r in rows:
        lines.append(f"| {r.prompt} | {r.seed} | {'held-out' if r.held_out else 'seen'} | {r.shape} | {r.colour} | "
                     f"{yes_no(r.passed)} | {r.psnr:.2f} | {r.ssim:.3f} | {r.mask_iou:.3f} | {number(r.normal_consistency)} | "
                     f"{number(r.fscore)} | {yes_no(r.genus_correct)} | {yes_no(r.janus)} | {yes_no(r.oriented)} | "
                     f"{number(r.seconds, 0)} |")
    lines.append("")
    for split, s in summary.items():
        if s["assets"]:
            passed, janus, oriented = s["pass"], s["janus"], s["oriented"]
            janus_text = (f"Janus {share(janus['rate'], janus['n'])}, oriented {share(oriented['rate'], oriented['n'])}"
                          if janus["n"] else "no mugs or chairs")
            lines.append(f"- {split.replace('_', '-')}: pass {share(passed['rate'], passed['n'])} assets; novel views (8 each) "
                         f"PSNR {s['psnr']:.2f}, SSIM {s['ssim']:.3f}, mask IoU {s['mask_iou']:.3f}; normal consistency "
                         f"{number(s['normal_consistency'])}, F@0.05 {number(s['fscore'])}, genus right "
                         f"{share(s['genus_correct']['rate'], s['genus_correct']['n'])}; {janus_text}; "
                         f"{number(s['seconds'], 0)} s per asset")
    write_text(out_dir / "image_eval.md", "\n".join(lines) + "\n")
    write_text(out_dir / "image_eval.json", json.dumps({"rows": [asdict(r) for r in rows], "summary": summary}, indent=2))
