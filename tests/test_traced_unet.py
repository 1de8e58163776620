"""The traced UNet forward gives the eager prediction bit for bit, and steps aside whenever a
trace could be stale or wrong: gradients, an adapter, a changed UNet. A multi-view prior's
cameras (class labels) and view count are part of what a trace replays."""
from __future__ import annotations

import torch

from dream3d.interfaces import Conditioning
from dream3d.prior.config import PriorConfig
from dream3d.prior.factory import build_prior
from dream3d.prior.model import TextToImagePrior


def load(tiny_prior_dir) -> TextToImagePrior:
    return TextToImagePrior.from_pretrained(str(tiny_prior_dir))


def draws(prior: TextToImagePrior, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, Conditioning]:
    generator = torch.Generator().manual_seed(seed)
    size = prior.latent_size
    noisy = torch.randn(batch, prior.latent_channels, size, size, generator=generator)
    t = torch.randint(0, prior.num_train_timesteps, (batch,), generator=generator)
    width = prior.text_encoder.config.hidden_size
    context = torch.randn(batch, prior.tokenizer.model_max_length, width, generator=generator)
    return noisy, t, Conditioning(context=context)


def eager(prior: TextToImagePrior, noisy, t, cond) -> torch.Tensor:
    return prior.unet(noisy, t, encoder_hidden_states=cond.context).sample


@torch.no_grad()
def test_traces_match_eager_bit_for_bit_one_per_shape(tiny_prior_dir):
    prior = load(tiny_prior_dir)
    for batch, seed in [(2, 0), (2, 1), (4, 2), (2, 3)]:
        noisy, t, cond = draws(prior, batch, seed)
        assert torch.equal(prior.predict_noise(noisy, t, cond), eager(prior, noisy, t, cond))
    assert len(prior.traced_unet._traces) == 2  # batch 2 and batch 4


def test_gradients_run_eagerly_and_flow(tiny_prior_dir):
    prior = load(tiny_prior_dir)
    noisy, t, cond = draws(prior, 2)
    noisy.requires_grad_(True)
    prior.predict_noise(noisy, t, cond).square().sum().backward()
    assert noisy.grad is not None and noisy.grad.abs().sum() > 0
    assert not prior.traced_unet._traces


@torch.no_grad()
def test_weights_changed_in_place_are_seen(tiny_prior_dir):
    """A trace holds the module's own parameters, not copies."""
    prior = load(tiny_prior_dir)
    noisy, t, cond = draws(prior, 2)
    before = prior.predict_noise(noisy, t, cond)
    prior.unet.conv_out.bias.add_(1.0)
    after = prior.predict_noise(noisy, t, cond)
    assert torch.allclose(after, before + 1.0, atol=1e-5)
    assert torch.equal(after, eager(prior, noisy, t, cond))


@torch.no_grad()
def test_an_adapter_or_a_cast_drops_the_traces(tiny_prior_dir):
    from peft import LoraConfig

    prior = load(tiny_prior_dir)
    noisy, t, cond = draws(prior, 2)
    prior.predict_noise(noisy, t, cond)
    assert prior.traced_unet._traces
    prior.double()
    assert not prior.traced_unet._traces
    prior.float()
    prior.predict_noise(noisy, t, cond)
    prior.unet.add_adapter(LoraConfig(r=2, target_modules=["to_q", "to_v"], init_lora_weights=False))
    adapted = prior.predict_noise(noisy, t, cond)
    assert torch.equal(adapted, eager(prior, noisy, t, cond))
    assert not prior.traced_unet._traces


def test_the_config_switch_turns_tracing_off(tiny_prior_dir):
    prior = build_prior(PriorConfig(pretrained=str(tiny_prior_dir), trace_unet=False), torch.device("cpu"))
    noisy, t, cond = draws(prior, 2)
    with torch.no_grad():
        assert torch.equal(prior.predict_noise(noisy, t, cond), eager(prior, noisy, t, cond))
    assert not prior.traced_unet._traces


def test_a_torch_without_tracing_falls_back_to_eager(tiny_prior_dir, monkeypatch, caplog):
    def no_trace(*args, **kwargs):
        raise RuntimeError("tracing is gone")

    monkeypatch.setattr(torch.jit, "trace", no_trace)
    prior = load(tiny_prior_dir)
    noisy, t, cond = draws(prior, 2)
    with torch.no_grad():
        assert torch.equal(prior.predict_noise(noisy, t, cond), eager(prior, noisy, t, cond))
    assert not prior.traced_unet.enabled
    assert "tracing it failed" in caplog.text


def test_eager_calls_in_between_keep_the_traces(tiny_prior_dir, monkeypatch):
    """A call with gradients, or with tracing switched off, runs eagerly and leaves the traces:
    recording one again would cost far more than the trace saves."""
    import dream3d.prior.traced_unet as traced_unet

    prior = load(tiny_prior_dir)
    noisy, t, cond = draws(prior, 2)
    recorded = []
    original = traced_unet.TracedUNet._trace
    monkeypatch.setattr(traced_unet.TracedUNet, "_trace",
                        lambda self, *args: recorded.append(1) or original(self, *args))
    with torch.no_grad():
        first = prior.predict_noise(noisy, t, cond)
    prior.predict_noise(noisy, t, cond).sum()  # with gradients
    prior.traced_unet.enabled = False
    with torch.no_grad():
        prior.predict_noise(noisy, t, cond)
    prior.traced_unet.enabled = True
    with torch.no_grad():
        assert torch.equal(prior.predict_noise(noisy, t, cond), first)
    assert len(recorded) == 1


def test_a_parameter_made_trainable_after_tracing_runs_eagerly(tiny_prior_dir, monkeypatch):
    """The parameters are listed once, but their ``requires_grad`` is read at every call."""
    prior = load(tiny_prior_dir)
    noisy, t, cond = draws(prior, 2)
    with torch.no_grad():
        prior.predict_noise(noisy, t, cond)
    assert len(prior.traced_unet._traces) == 1
    replayed = []
    monkeypatch.setattr(torch.jit.ScriptModule, "__call__", lambda self, *a: replayed.append(1))
    prior.unet.conv_out.weight.requires_grad_(True)
    with torch.no_grad():
        out = prior.predict_noise(noisy, t, cond)
    assert not replayed and torch.equal(out, eager(prior, noisy, t, cond))


@torch.no_grad()
def test_multiview_cameras_are_traced_and_a_new_view_count_traces_again(tmp_path):
    from tiny_multiview_prior import build_tiny_multiview_prior

    from dream3d.prior.multiview import MultiViewInfo, MultiViewPrior

    prior = MultiViewPrior.from_pretrained(str(build_tiny_multiview_prior(tmp_path / "tiny-mv")))
    generator = torch.Generator().manual_seed(0)
    noisy = torch.randn(8, 4, prior.latent_size, prior.latent_size, generator=generator)
    t = torch.full((8,), 500)
    context = torch.randn(8, prior.tokenizer.model_max_length, prior.text_encoder.config.hidden_size, generator=generator)
    cameras = torch.randn(8, 16, generator=generator)
    cond = Conditioning(context=context, class_labels=cameras)

    def by_eager() -> torch.Tensor:
        return prior.unet(noisy, t, encoder_hidden_states=context, class_labels=cameras).sample

    traced = prior.predict_noise(noisy, t, cond)
    assert len(prior.traced_unet._traces) == 1
    assert torch.equal(traced, by_eager())
    other_cameras = prior.predict_noise(noisy, t, cond.with_class_labels(cameras.flip(0)))
    assert not torch.allclose(other_cameras, traced, atol=1e-4)  # the cameras are an input, not a constant
    prior.set_info(MultiViewInfo(num_views=2))  # 4 objects of 2 views: another attention
    assert not prior.traced_unet._traces
    assert torch.equal(prior.predict_noise(noisy, t, cond), by_eager())
    assert not torch.allclose(by_eager(), traced, atol=1e-4)
