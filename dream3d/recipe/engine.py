"""``RecipeRun``: executes a ``Recipe`` one training step at a time; the trainer owns the loop.

The path of one step (``training_step``): the stage at this step -> (on its first step, the
hand-over from the stage before) -> cameras -> shading mode -> ``Representation.render`` ->
``Guidance.loss`` + weighted regularisers -> ``before_backward``. The trainer then runs
backward and the current stage's optimizers, and calls ``after_step`` (upkeep).

Every stateful part is in ``state_dict``: each stage's representation (running statistics
included) and optimizers, each guidance's modules and optimizers, and the step; the trainer
adds the RNG. A resumed run is bit-identical to an uninterrupted one on a CPU.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor

from dream3d.cameras import Cameras
from dream3d.export.types import ExportError
from dream3d.guidance.reference import ReferenceTarget, reference_loss
from dream3d.interfaces import Condition, Guidance, Prior, Representation
from dream3d.prior.factory import build_condition, build_prior
from dream3d.recipe.stage import Recipe, Stage
from dream3d.render.shading import sample_mode
from dream3d.render.types import Render
from dream3d.representations.views import render_views
from dream3d.timing import SectionTimer

log = logging.getLogger(__name__)


class RecipeRun:
    """The built parts of a recipe and its step (``load_prior=False`` builds what export needs).

    ``prior`` and ``condition`` may be given (tests, plugins); otherwise they are built from
    the recipe's ``PriorConfig`` by ``dream3d.prior.factory``.
    """

    def __init__(self, recipe: Recipe, device: torch.device, load_prior: bool = True,
                 prior: Prior | None = None, condition: Condition | None = None):
        self.recipe = recipe
        self.device = device
        self.timer = SectionTimer()
        self.step = 0
        self.starts = recipe.starts()
        self.representations: dict[str, Representation] = {}
        """By stage name; a stage that ``shares`` another's maps to the same object."""
        for stage in recipe.stages:
            self.representations[stage.name] = (self.representations[stage.shares] if stage.shares
                                                else stage.representation(device))
        self.prior: Prior | None = None
        self.condition: Condition | None = None
        self.guidances: dict[str, Guidance] = {}
        self._render: Render | None = None
        if not load_prior:
            return
        for stage in recipe.stages:  # a training run: the cheap, user-given inputs first
            if stage.init_from == "mesh_file":
                from dream3d.representations.mesh_input import prepare_input_mesh

                self.representations[stage.name].set_mesh(prepare_input_mesh(stage.mesh_file, recipe.mesh_input, recipe.export))
        self.prior = prior if prior is not None else build_prior(recipe.prior, device)
        self.condition = condition if condition is not None else build_condition(
            self.prior, recipe.prior, recipe.prompt, recipe.negative_prompt, recipe.prompt_processing, recipe.image)
        self.guidances = {key: build(self.prior) for key, build in recipe.guidances.items()}

    # ------------------------------------------------------------ stages
    @property
    def total_steps(self) -> int:
        return self.recipe.total_steps

    def stage_index(self, step: int) -> int:
        """The stage that runs ``step`` (the last one from its start on)."""
        return max(i for i, start in enumerate(self.starts) if start <= step or i == 0)

    def stage_at(self, step: int) -> Stage:
        return self.recipe.stages[self.stage_index(step)]

    def _ready(self, stage: Stage) -> bool:
        return stage.init_from == "scratch" or bool(getattr(self.representations[stage.name], "ready", False))

    def shown_stage(self) -> Stage:
        """The stage whose representation previews, videos and exports show: the current one,
        or the one before while the current one has no mesh yet."""
        for i in range(self.stage_index(self.step), -1, -1):
            if self._ready(self.recipe.stages[i]):
                return self.recipe.stages[i]
        raise ExportError("No stage of this run has anything to show yet (a texture stage without its mesh).")

    def hand_over(self, index: int) -> None:
        """Start stage ``index`` from the textured mesh of the stage before."""
        stage = self.recipe.stages[index]
        previous = self.representations[self.recipe.stages[index - 1].name]
        with self.timer.section("export"):
            asset = previous.to_mesh(self.recipe.export)
            self.representations[stage.name].set_mesh(asset)
        log.info("Stage '%s' starts from the mesh of stage '%s' (%d faces)", stage.name,
                 self.recipe.stages[index - 1].name, len(asset.mesh.faces))

    # ------------------------------------------------------------ one step
    def training_step(self, step: int) -> tuple[Tensor, dict]:
        """The loss of ``step`` (forward only; see module docstring)."""
        self.step = step
        index = self.stage_index(step)
        stage = self.recipe.stages[index]
        representation = self.representations[stage.name]
        if stage.init_from == "previous" and not self._ready(stage):
            self.hand_over(index)
        representation.train()
        progress = (step - self.starts[index]) / max(stage.steps, 1)
        cameras = stage.cameras.sample(step, progress).to(self.device)
        mode = sample_mode(stage.shading) if stage.shading is not None else "albedo"
        with self.timer.section("render"):
            render = representation.render(cameras, mode)
        with self.timer.section("prior"):
            guided, stats = self.guidances[stage.guidance].loss(render.images(), cameras, self.condition, step)
        loss = stage.losses.get("guidance", 1.0) * guided
        wanted = tuple(name for name, weight in stage.losses.items() if name != "guidance" and weight > 0)
        for name, term in representation.regularisers(render, wanted).items():
            loss = loss + stage.losses[name] * term
            stats[name] = float(term.detach())
        if stage.reference is not None:
            with self.timer.section("render"):
                term, reference_stats = self._reference_loss(representation, stage.reference, cameras)
            loss = loss + term
            stats.update(reference_stats)
        stats["opacity"] = float(render.alpha.detach().mean())
        representation.before_backward(step, render)
        self._render = render
        return loss, stats

    def _reference_loss(self, representation: Representation, target: ReferenceTarget,
                        cameras: Cameras) -> tuple[Tensor, dict]:
        """The reference-view loss at this step's render size, rendered as an evaluation view
        (over white, without jitter) but with gradients."""
        camera = target.camera.with_resolution(cameras.height, cameras.width).to(self.device)
        representation.eval()
        try:
            render = representation.render(camera, "albedo")
        finally:
            representation.train()
        return reference_loss(render.images(), render.alpha.permute(0, 3, 1, 2), target.rgb.to(self.device),
                              target.mask.to(self.device), target.config)

    def optimizers(self, step: int | None = None) -> dict[str, torch.optim.Optimizer]:
        """The optimizers of the stage at ``step`` (all stages' when None): its representation's
        (keyed by the stage that owns it) and its guidance's."""
        stages = self.recipe.stages if step is None else [self.stage_at(step)]
        found: dict[str, torch.optim.Optimizer] = {}
        for stage in stages:
            owner = stage.shares or stage.name
            found.update({f"{owner}.{k}": o for k, o in self.representations[owner].optimizers().items()})
            guidance = self.guidances.get(stage.guidance)
            if guidance is not None:
                found.update({f"guidance.{stage.guidance}.{k}": o for k, o in guidance.optimizers().items()})
        return found

    def after_step(self, step: int) -> None:
        """Upkeep of the stage's representation (densification, the occupancy grid)."""
        render, self._render = self._render, None
        if render is None:
            return
        with self.timer.section("upkeep"):
            self.representations[self.stage_at(step).name].upkeep(step, render)

    # ------------------------------------------------------------ views and export
    def render_views(self, cameras: Cameras) -> Render:
        """Albedo renders for previews and turntables."""
        return render_views(self.representations[self.shown_stage().name], cameras)

    def export(self, run_dir: Path) -> dict:
        """``run_dir/mesh/`` from the shown stage's representation."""
        return self.representations[self.shown_stage().name].export(Path(run_dir), self.recipe.export)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict:
        guidances = {}
        for key, guidance in self.guidances.items():
            guidances[key] = {
                "modules": {k: m.state_dict() for k, m in guidance.state_modules().items()},
                "optimizers": {k: o.state_dict() for k, o in guidance.optimizers().items()},
            }
        stages = {}
        for stage in self.recipe.owners():  # a shared representation is saved once, by its owner
            name, representation = stage.name, self.representations[stage.name]
            stages[name] = {
                "representation": representation.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in representation.optimizers().items()},
            }
        return {"step": self.step, "stages": stages, "guidances": guidances}

    def load_state_dict(self, state: dict) -> None:
        for stage in self.recipe.owners():
            name, representation = stage.name, self.representations[stage.name]
            saved = state["stages"][name]
            representation.load_state_dict(saved["representation"])
            for key, optimizer in representation.optimizers().items():  # rebuilt first if resized
                optimizer.load_state_dict(saved["optimizers"][key])
        for key, guidance in self.guidances.items():
            saved = state["guidances"].get(key)
            if saved is None:
                continue
            for name, module in guidance.state_modules().items():
                module.load_state_dict(saved["modules"][name])
            for name, optimizer in guidance.optimizers().items():
                optimizer.load_state_dict(saved["optimizers"][name])
        self.step = int(state["step"])
