"""The typed seams: each shipped part implements its interface, and a new representation and
guidance plug into the recipe engine without touching dream3d (the worked example of
docs/architecture.md)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from engine_steps import one_step
from torch import Tensor, nn

from dream3d.cameras import CameraSamplerConfig, orbit_cameras
from dream3d.export.config import ExportConfig
from dream3d.interfaces import Condition, Conditioning, Guidance, Prior, Representation
from dream3d.prior.config import PriorConfig
from dream3d.prior.prompts import PromptConfig, TextCondition
from dream3d.recipe import CameraSchedule, Recipe, RecipeRun, Stage
from dream3d.render.types import Render


def test_conditioning_concatenates_and_swaps_class_labels():
    a = Conditioning(torch.zeros(2, 3, 4), class_labels=torch.ones(2, 16))
    b = Conditioning(torch.ones(1, 3, 4), class_labels=torch.zeros(1, 16))
    both = Conditioning.cat([a, b])
    assert len(both) == 3 and both.context[2].eq(1).all() and both.class_labels[:2].eq(1).all()
    assert a.with_class_labels(None).class_labels is None and a.class_labels is not None
    try:
        Conditioning.cat([a, Conditioning(torch.zeros(1, 3, 4))])
    except ValueError as error:
        assert "same inputs" in str(error)
    else:
        raise AssertionError("mixing conditionings with and without class labels must fail")


def test_text_condition_gives_each_camera_its_view_embedding():
    by_view = {label: torch.full((2, 3), float(i)) for i, label in enumerate(("front", "side", "back", "overhead"))}
    condition = TextCondition(by_view, -torch.ones(2, 3))
    assert isinstance(condition, Condition)
    cameras = orbit_cameras(4, elevation=15.0, start_azimuth=0.0)  # front, side, back, side
    cond, uncond = condition.for_cameras(cameras)
    assert cond.context[:, 0, 0].tolist() == [0.0, 1.0, 2.0, 1.0]
    assert uncond.context.eq(-1).all() and uncond.context.shape == cond.context.shape


def test_shipped_parts_implement_their_interfaces(tiny_prior_dir):
    from dream3d.guidance import SDS, VSD, GuidanceConfig
    from dream3d.guidance.sdedit import SDEditConfig, SDEditGuidance
    from dream3d.prior.model import TextToImagePrior
    from dream3d.representations.nerf import NeRFRepresentation, NeRFSceneConfig
    from dream3d.representations.textured_mesh import (
        TexturedMeshRepresentation,
        TextureStageConfig,
    )
    from dream3d.scene.initial_shape import InitialShapeConfig
    from dream3d.scene.nerf import NeRFConfig

    prior = TextToImagePrior.from_pretrained(str(tiny_prior_dir))
    assert isinstance(prior, Prior)
    for guidance in (SDS(prior, GuidanceConfig(), 10), VSD(prior, GuidanceConfig(type="vsd"), 10),
                     SDEditGuidance(prior, SDEditConfig(), 0, 10)):
        assert isinstance(guidance, Guidance)
    cpu = torch.device("cpu")
    nerf = NeRFSceneConfig(nerf=NeRFConfig(initial_shape=InitialShapeConfig(steps=0)))
    for representation in (NeRFRepresentation(nerf, cpu), TexturedMeshRepresentation(TextureStageConfig(), 16, cpu)):
        assert isinstance(representation, Representation)


# ---------------------------------------------------------------- a new method, from outside
class FlatColour(nn.Module):
    """A representation that renders one learned colour everywhere (alpha 1)."""

    regulariser_names = ("brightness",)

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = device
        self.colour = nn.Parameter(torch.zeros(3))
        self.optimizer = torch.optim.Adam([self.colour], lr=0.1)
        self.upkept = 0

    def render(self, cameras, mode="albedo") -> Render:
        rgb = torch.sigmoid(self.colour).expand(len(cameras), cameras.height, cameras.width, 3)
        return Render(rgb=rgb, alpha=torch.ones(len(cameras), cameras.height, cameras.width, 1))

    def regularisers(self, render: Render, names) -> dict[str, Tensor]:
        return {"brightness": render.rgb.mean()} if "brightness" in names else {}

    def optimizers(self):
        return {"adam": self.optimizer}

    def before_backward(self, step, render):
        pass

    def upkeep(self, step, render):
        self.upkept += 1

    def to_mesh(self, export_config):
        raise ValueError("a flat colour has no surface")

    def export(self, run_dir: Path, export_config) -> dict:
        return {"colour": torch.sigmoid(self.colour).tolist()}


@dataclass
class TowardsColour:
    """A guidance whose gradient pulls every pixel towards ``target``."""

    target: Tensor

    def loss(self, images, cameras, condition, step):
        return ((images - self.target.view(1, 3, 1, 1)) ** 2).mean(), {}

    def state_modules(self):
        return {}

    def optimizers(self):
        return {}


def test_a_new_representation_and_guidance_run_through_the_engine():
    target = torch.tensor([0.9, 0.5, 0.1])
    stage = Stage(name="flat", steps=60, representation=FlatColour, guidance="towards",
                  cameras=CameraSchedule(CameraSamplerConfig(height=4, width=4)), losses={"guidance": 1.0, "brightness": 0.0})
    recipe = Recipe(stages=[stage], guidances={"towards": lambda prior: TowardsColour(target)}, prior=PriorConfig(),
                    prompt="", negative_prompt="", prompt_processing=PromptConfig(), export=ExportConfig())
    run = RecipeRun(recipe, torch.device("cpu"), prior=object(), condition=TextCondition({}, torch.zeros(1)))
    assert isinstance(run.representations["flat"], Representation) and isinstance(run.guidances["towards"], Guidance)
    for step in range(stage.steps):
        one_step(run, step)
    colour = torch.tensor(run.export(Path("unused"))["colour"])
    assert torch.allclose(colour, target, atol=0.05) and run.representations["flat"].upkept == stage.steps
    saved = run.state_dict()
    assert saved["step"] == stage.steps - 1 and "colour" in saved["stages"]["flat"]["representation"]


def test_a_stage_that_shares_a_representation_goes_on_training_it_under_another_guidance():
    """ProlificDreamer's geometry stage: the same representation and optimizer, a second guidance."""
    first, second = torch.tensor([0.9, 0.5, 0.1]), torch.tensor([0.1, 0.5, 0.9])
    cameras = CameraSchedule(CameraSamplerConfig(height=4, width=4))
    stages = [Stage(name="flat", steps=60, representation=FlatColour, guidance="first", cameras=cameras),
              Stage(name="again", steps=5, representation=FlatColour, guidance="second", cameras=cameras, shares="flat")]
    recipe = Recipe(stages=stages, guidances={"first": lambda prior: TowardsColour(first),
                                              "second": lambda prior: TowardsColour(second)},
                    prior=PriorConfig(), prompt="", negative_prompt="", prompt_processing=PromptConfig(), export=ExportConfig())
    run = RecipeRun(recipe, torch.device("cpu"), prior=object(), condition=TextCondition({}, torch.zeros(1)))
    assert run.representations["again"] is run.representations["flat"]
    assert list(run.optimizers()) == ["flat.adam"]  # one optimizer, named by the stage that owns it
    colours = []
    for step in range(recipe.total_steps):
        one_step(run, step)
        colours.append(torch.tensor(run.export(Path("unused"))["colour"]))
    # Five steps of the second guidance start from where the first left the colour (a fresh
    # representation would start from grey, 0.5), and move it towards the second target.
    assert torch.allclose(colours[59], first, atol=0.05)
    assert (colours[-1] - first).abs().max() < 0.3 and colours[-1][2] > colours[59][2] and colours[-1][0] < colours[59][0]
    assert run.representations["flat"].upkept == 65
    saved = run.state_dict()
    assert list(saved["stages"]) == ["flat"] and set(saved["guidances"]) == {"first", "second"}
    again = RecipeRun(recipe, torch.device("cpu"), prior=object(), condition=TextCondition({}, torch.zeros(1)))
    again.load_state_dict(saved)
    assert torch.equal(again.representations["again"].colour, run.representations["flat"].colour)


def test_a_stage_can_share_only_an_earlier_stage():
    cameras = CameraSchedule(CameraSamplerConfig(height=4, width=4))
    common = dict(guidances={}, prior=PriorConfig(), prompt="", negative_prompt="", prompt_processing=PromptConfig(),
                  export=ExportConfig())
    later = Stage(name="later", steps=1, representation=FlatColour, guidance="g", cameras=cameras)
    early = Stage(name="early", steps=1, representation=FlatColour, guidance="g", cameras=cameras, shares="later")
    with pytest.raises(ValueError, match="earlier stage"):
        Recipe(stages=[early, later], **common)
    with pytest.raises(ValueError, match="Two stages"):
        Recipe(stages=[later, later], **common)
