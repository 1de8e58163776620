"""Camera conditioning of VSD's LoRA score model (ProlificDreamer, Wang et al. 2023, sec. 4).

The LoRA branch of VSD estimates the score of the *rendered* distribution, which depends on
the camera. As in ProlificDreamer, the camera-to-world matrix is embedded by a small MLP and
added to the UNet's timestep embedding. In diffusers' ``UNet2DConditionModel`` that is what a
class embedding does: ``emb = time_embedding(t) + class_embedding(class_labels)``; so the MLP is
installed as the UNet's ``class_embedding`` while the LoRA branch runs and the matrix is passed
as ``class_labels``.

An all-zero matrix is never a camera (the last row of a homogeneous transform is
``[0,0,0,1]``), so it means "no camera": its embedding is exactly zero, which is how
camera-condition dropout and the LoRA branch's camera CFG are expressed.
"""
from __future__ import annotations

from torch import Tensor, nn

CAMERA_INPUT_DIM = 16
"""Length of the camera condition: a flattened 4x4 camera-to-world matrix."""


def camera_condition(c2w: Tensor, keep: Tensor | None = None) -> Tensor:
    """Flattened cameras ``[B,16]`` from ``c2w [B,4,4]``; rows with ``keep [B]`` False are zero."""
    flat = c2w.reshape(c2w.shape[0], CAMERA_INPUT_DIM).float()
    if keep is None:
        return flat
    return flat * keep.to(flat.device, flat.dtype).view(-1, 1)


class CameraEmbedding(nn.Module):
    """MLP ``[B,16] -> [B,D]`` from a flattened camera-to-world matrix to a time-embedding offset.

    The last layer starts at zero, so a new LoRA branch equals the pretrained conditional
    branch. Parameters stay in their own dtype (fp32) when the UNet runs in fp16: inputs are
    cast to it here and diffusers casts the output back to the UNet's dtype.
    """

    def __init__(self, out_dim: int, hidden_dim: int = 0):
        super().__init__()
        hidden_dim = hidden_dim or out_dim
        self.net = nn.Sequential(nn.Linear(CAMERA_INPUT_DIM, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, out_dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, cameras: Tensor) -> Tensor:
        """``cameras [B,16]`` -> ``[B,D]``; an all-zero row gives an all-zero embedding."""
        x = cameras.to(self.net[0].weight.dtype)
        present = (x != 0).any(dim=-1, keepdim=True).to(x.dtype)  # [B,1]
        return self.net(x) * present


def time_embedding_dim(unet: nn.Module) -> int:
    """Width of the UNet's timestep embedding, which a class embedding is added to."""
    linear = getattr(getattr(unet, "time_embedding", None), "linear_2", None)
    if not isinstance(linear, nn.Linear):
        raise ValueError("VSD's camera conditioning needs a diffusers UNet2DConditionModel (time_embedding.linear_2).")
    return int(linear.out_features)


def check_class_embedding_free(unet: nn.Module) -> None:
    """Refuse UNets that already use a class embedding (the camera would replace it)."""
    if getattr(unet, "class_embedding", None) is not None:
        raise ValueError("VSD's camera embedding needs a UNet without a class embedding of its own.")
    if getattr(getattr(unet, "config", None), "class_embeddings_concat", False):
        raise ValueError("VSD's camera embedding is added to the time embedding; class_embeddings_concat must be False.")


def attach(unet: nn.Module, embedding: nn.Module | None) -> None:
    """Install ``embedding`` as the UNet's class embedding (None removes it)."""
    unet.class_embedding = embedding


