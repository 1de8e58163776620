"""The training command's view-phase options (``--view-steps``, ``--view-featured-share``,
``--view-chair-share``, ``--view-text-lr-scale``) and the view phases they ask for.

Each option takes one value for every phase or one value per phase; ``--view-steps`` sets how
many phases there are. A bad value is refused when the command is parsed, naming the option,
before minutes of rendering.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from dream3d.prior.view_phase import ViewPhaseConfig


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the view-phase options to ``parser``."""
    parser.add_argument("--view-steps", type=int, nargs="+", default=None,
                        help="steps of each view-word phase; their number sets the phases (default 1500 1500; 0: none)")
    parser.add_argument("--view-featured-share", type=float, nargs="+", default=None,
                        help="share of each view-phase batch drawn from front and back views of mugs and chairs (default 0.5)")
    parser.add_argument("--view-chair-share", type=share_or_none, nargs="+", default=None,
                        help="share of a view phase's featured draws that show a chair; 'none': as the data holds "
                             "(default none 0.75)")
    parser.add_argument("--view-text-lr-scale", type=float, nargs="+", default=None,
                        help="the text encoder's learning rate in a view phase, as a multiple of the UNet's (default 1)")


def share_or_none(text: str) -> float | None:
    """A command-line share: a number, or "none"."""
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none'; got {text!r}") from None


def view_phases_from(args: argparse.Namespace, phases: tuple[ViewPhaseConfig, ...]) -> tuple[ViewPhaseConfig, ...]:
    """The view phases that the ``--view-*`` options ask for, starting from ``phases``.

    ``--view-steps`` sets how many phases there are (a lone 0: none); a phase beyond ``phases``
    starts from ``ViewPhaseConfig``'s defaults. Every other option takes one value for all the
    phases or one per phase. Raises ValueError naming the option.
    """
    result = list(phases)
    if args.view_steps is not None:
        steps = [] if args.view_steps == [0] else args.view_steps
        result = [result[k] if k < len(result) else ViewPhaseConfig() for k in range(len(steps))]
        result = apply_view_option(result, "steps", steps)
    for field_name in ("featured_share", "chair_share", "text_lr_scale"):
        values = getattr(args, f"view_{field_name}")
        if values is not None:
            result = apply_view_option(result, field_name, values)
    return tuple(result)


def apply_view_option(phases: list[ViewPhaseConfig], field_name: str, values: list) -> list[ViewPhaseConfig]:
    """``phases`` with ``field_name`` set from one value for all or one per phase."""
    flag = f"--view-{field_name.replace('_', '-')}"
    if len(values) == 1:
        values = values * len(phases)
    if len(values) != len(phases):
        raise ValueError(f"{flag}: give one value, or one for each of the {len(phases)} view phases; got {len(values)}.")
    try:
        return [replace(phase, **{field_name: value}) for phase, value in zip(phases, values)]
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from None
