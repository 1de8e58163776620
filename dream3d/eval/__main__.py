"""``python -m dream3d.eval RUN_DIR_OR_MESH --prompt "a red cube"``, or
``python -m dream3d.eval --batch prompts.txt --config configs/X.yaml [key=value ...]``, or
``python -m dream3d.eval --compare A/eval.json B/eval.json --labels SDS VSD`` (side by side)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dream3d.allocator import keep_freed_memory
from dream3d.eval.batch import read_prompts, run_batch
from dream3d.eval.evaluate import EvalError, evaluate_run


def check_prior_samples(args: argparse.Namespace) -> int:
    """Score the prior's 2D samples of every pair (shape, colour, specks) and, where its world
    has objects with a front, whether front and back views show the feature on the right side."""
    from dream3d.atomic import write_text
    from dream3d.eval.prior_features import check_features, summarise_features
    from dream3d.eval.prior_samples import check_prior, summarise
    from dream3d.prior import TextToImagePrior
    from dream3d.prior.catalog import FEATURED

    prior = TextToImagePrior.from_pretrained(args.prior)
    seeds = tuple(args.seeds or (0,))  # the samples of one seed look alike across prompts: more seeds, more independent draws
    summary = summarise([check for seed in seeds for check in check_prior(prior, samples=args.samples, seed=seed)])
    summary["seeds"] = list(seeds)
    if prior.vocabulary is not None and set(FEATURED) <= set(prior.vocabulary):
        summary["features"] = summarise_features([check for seed in seeds
                                                  for check in check_features(prior, samples=2 * args.samples, seed=seed)])
    out = Path(args.output_dir)
    write_text(out / "prior_samples.json", json.dumps(summary, indent=2))
    for split in ("seen", "held_out"):
        s = summary[split]
        print(f"{split}: {s['accuracy']:.0%} right of {s['pairs']} pairs x {args.samples * len(seeds)} samples (shape "
              f"{s['shape_accuracy']:.0%}, colour {s['colour_accuracy']:.0%}); specks in {s['speck_rate']:.0%}")
    for name, row in summary.get("features", {}).items():
        if name != "prompts" and row["samples"]:
            print(f"feature side, {name}: {row['view_accuracy']:.0%} of {row['samples']} samples")
    return 0


def check_view_samples(args: argparse.Namespace) -> int:
    """``--view-samples``: a view-conditioned prior's new views against the truth."""
    from dream3d.atomic import write_text
    from dream3d.eval.view_pose_response import check_pose_response, summarise_response
    from dream3d.eval.view_prior_samples import check_views, prior_sampler, summarise_views
    from dream3d.prior.view_conditioned import ViewConditionedPrior

    prior = ViewConditionedPrior.from_pretrained(args.prior)
    summary = summarise_views(check_views(prior_sampler(prior, samples=max(1, args.samples // 2), steps=args.sample_steps),
                                         prior.image_size))
    summary["pose_response"] = summarise_response(check_pose_response(prior))
    write_text(Path(args.output_dir) / "view_samples.json", json.dumps(summary, indent=2))
    for split in ("seen", "held_out"):
        s = summary[split]
        print(f"{split}: PSNR {s['psnr']:.1f} dB, SSIM {s['ssim']:.3f}, mask IoU {s['mask_iou']:.2f} "
              f"over {s['pairs']} pairs x {s['samples'] // max(s['pairs'], 1)} samples")
    responses = ", ".join(f"{row['shape']} {row['mean']:.2f}" for row in summary["pose_response"]["shapes"])
    print(f"pose response (1: the new view turns as far as the truth does, 0: not at all): {responses or 'no shape turns'}")
    alignments = ", ".join(f"{row['shape']} {row['mean_alignment']:.2f}" for row in summary["pose_response"]["shapes"])
    print(f"pose alignment (1: it turns towards the true view, 0: across it, -1: away): {alignments or 'no shape turns'}")
    return 0


def check_multiview_samples(args: argparse.Namespace) -> int:
    """``--multiview-samples``: a multi-view prior's 4-view groups (shape, colour, the feature's side)."""
    from dream3d.atomic import write_text
    from dream3d.eval.multiview_prior_samples import check_multiview_prior, summarise_multiview
    from dream3d.prior.multiview import MultiViewPrior

    prior = MultiViewPrior.from_pretrained(args.prior)
    summary = summarise_multiview(check_multiview_prior(prior, samples=args.samples, steps=args.sample_steps))
    write_text(Path(args.output_dir) / "multiview_samples.json", json.dumps(summary, indent=2))
    for split in ("seen", "held_out"):
        s = summary[split]
        line = f"{split}: shape and colour right in {s['accuracy']:.0%} of {s['pairs']} pairs x {args.samples} groups x {prior.num_views} views"
        if s["featured_pairs"]:
            line += (f"; mug/chair ({s['featured_groups']} groups): feature on the camera's side {s['feature_side']:.0%} of "
                     f"front/back views, one-sided groups {s['one_sided']:.0%}, azimuth within 45 deg {s['azimuth_within_45']:.0%}")
        print(line)
    return 0


def compare_batches(args: argparse.Namespace) -> int:
    from dream3d.atomic import write_text
    from dream3d.eval.compare import compare, load_batch

    labels = args.labels or [Path(p).parent.name if Path(p).suffix else Path(p).name for p in args.compare]
    if len(labels) != len(args.compare):
        raise EvalError(f"--labels has {len(labels)} names for {len(args.compare)} --compare files: give one label per file")
    markdown, summary = compare([load_batch(Path(p), label) for p, label in zip(args.compare, labels)])
    out = Path(args.output_dir)
    write_text(out / "compare.md", markdown)
    write_text(out / "compare.json", json.dumps(summary, indent=2))
    print(markdown)
    return 0


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    parser = argparse.ArgumentParser(prog="python -m dream3d.eval", description="Ground-truth evaluation of bundled-prior assets.")
    parser.add_argument("path", nargs="?", help="a run directory or a mesh file (OBJ/GLB)")
    parser.add_argument("--prompt", help="the prompt the asset was made from (default: the run's own)")
    parser.add_argument("--batch", help="a file with one prompt per line: generate and evaluate each")
    parser.add_argument("--config", help="the config used for --batch runs")
    parser.add_argument("--output-dir", default="outputs/eval", help="where --batch writes runs and eval.md/eval.json, and --compare compare.md/.json")
    parser.add_argument("--prior-samples", action="store_true", help="score the prior's own 2D DDIM samples of every pair")
    parser.add_argument("--prior", default="extern/priors/dream3d-shapes-v2", help="the prior for --prior-samples")
    parser.add_argument("--samples", type=int, default=4, help="samples per pair for --prior-samples")
    parser.add_argument("--sample-steps", type=int, default=25, help="DDIM steps of --view-samples and --multiview-samples")
    parser.add_argument("--view-samples", action="store_true",
                        help="score a view-conditioned prior's (--prior) new views of true renders: PSNR, SSIM, mask IoU")
    parser.add_argument("--multiview-samples", action="store_true",
                        help="score a multi-view prior's (--prior) 4-view samples: shape, colour, the feature's side")
    parser.add_argument("--image-batch", metavar="PROMPTS", help="image to 3D: for each 'a {colour} {shape}' line, make an "
                        "asset from a true render with --config, then score it, novel views included")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds of --batch runs (default: the config's one), of --image-batch runs (default: 0 1) "
                             "and of --prior-samples (default: 0; their samples are pooled)")
    parser.add_argument("--elevation", type=float, default=15.0, help="the input render's elevation for --image-batch")
    parser.add_argument("--fill", type=float, default=0.0,
                        help="--image-batch: re-frame each input so the object fills this share, as a user's image is "
                             "(0: keep the true camera's framing)")
    parser.add_argument("--compare", nargs="+", metavar="EVAL_JSON", help="batch eval.json files to put side by side")
    parser.add_argument("--labels", nargs="+", help="a column label per --compare file (default: folder names)")
    parser.add_argument("overrides", nargs="*", help="config overrides for --batch runs")
    args = parser.parse_args(argv)
    if args.path is not None and "=" in args.path:  # argparse gives the first override to ``path``
        args.overrides, args.path = [args.path, *args.overrides], None
    from dream3d.exit_codes import EXIT_INTERRUPTED
    from dream3d.prior.source import PriorLoadError

    if args.samples < 1 or args.sample_steps < 1:
        print("error: --samples and --sample-steps must be at least 1", file=sys.stderr)
        return 2

    try:
        if args.view_samples:
            return check_view_samples(args)
        if args.prior_samples:
            return check_prior_samples(args)
        if args.multiview_samples:
            return check_multiview_samples(args)
        if args.compare:
            return compare_batches(args)
        if args.image_batch:
            if not args.config:
                raise EvalError("--image-batch needs --config configs/dreamgaussian-image.yaml (or another image config)")
            from dream3d.eval.image_batch import run_image_batch

            run_image_batch(read_prompts(Path(args.image_batch)), args.config, args.overrides, Path(args.output_dir),
                            tuple(args.seeds or (0, 1)), args.elevation, args.fill)
            print((Path(args.output_dir) / "image_eval.md").read_text())
            return 0
        if args.batch:
            if not args.config:
                raise EvalError("--batch needs --config configs/<method>.yaml")
            report = run_batch(read_prompts(Path(args.batch)), args.config, args.overrides, Path(args.output_dir),
                               tuple(args.seeds) if args.seeds else None)
            print(report.markdown())
            if report.interrupted:
                print("Interrupted: run the same command again to go on.", file=sys.stderr)
                return EXIT_INTERRUPTED
            return 0
        if not args.path:
            raise EvalError("Pass a run directory or mesh file, or --batch prompts.txt --config ...")
        result = evaluate_run(args.path, args.prompt)
    except (EvalError, FileNotFoundError, PriorLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
