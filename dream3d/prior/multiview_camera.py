"""The camera input of a multi-view prior, in MVDream's convention (Shi et al. 2023, arXiv:2308.16512).

MVDream conditions each view on its camera: the flattened 4x4 camera-to-world matrix, in
OpenGL camera axes (x right, y up, z backwards) in a +z-up world, with the camera position
scaled onto the unit sphere. A 2-layer MLP ``16 -> D -> D`` (linear, SiLU, linear) embeds it,
and the result is added to the timestep embedding:

    emb = time_embed(t) + camera_embed(c),   c = flatten(R_yaw · c2w_gl) with |c2w_gl[:3,3]| = 1.

In diffusers' ``UNet2DConditionModel`` that MLP is the class embedding of
``class_embed_type="projection"`` with ``projection_class_embeddings_input_dim=16``
(a ``TimestepEmbedding``: ``linear_1``, SiLU, ``linear_2``), fed through ``class_labels``, and
added to the time embedding (``class_embeddings_concat=False``): MVDream's ``camera_embed.0``
and ``camera_embed.2`` are its ``linear_1`` and ``linear_2``.

dream3d's cameras are OpenCV (x right, y down, z forward) in a +z-up world whose front is +x
(azimuth 0). ``yaw_degrees`` rotates that world about +z before embedding, so that the camera
dream3d calls "front" is the one the prior was trained to call front: MVDream's own views
start at Blender's front (the camera on -y), which is ``yaw_degrees = -90``; a prior trained on
dream3d's cameras uses 0.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

CAMERA_DIM = 16
"""Length of the camera input: a flattened 4x4 matrix."""

OPENCV_TO_OPENGL = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))
"""Right-multiplying an OpenCV camera-to-world matrix flips its camera y and z axes to OpenGL's."""


def yaw_matrix(degrees: float, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> Tensor:
    """The 4x4 rotation about +z by ``degrees`` (counter-clockwise seen from above)."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    rotation = torch.eye(4, dtype=dtype, device=device)
    rotation[0, 0], rotation[0, 1], rotation[1, 0], rotation[1, 1] = c, -s, s, c
    return rotation


def camera_features(c2w: Tensor, yaw_degrees: float = 0.0) -> Tensor:
    """MVDream camera inputs ``[B,16]`` (row-major) of dream3d cameras ``c2w [B,4,4]`` (OpenCV)."""
    c2w = c2w.float()
    gl = yaw_matrix(yaw_degrees, device=c2w.device) @ c2w @ OPENCV_TO_OPENGL.to(c2w.device)
    position = gl[:, :3, 3]
    gl = gl.clone()
    gl[:, :3, 3] = position / (position.norm(dim=-1, keepdim=True) + 1e-8)
    return gl.reshape(c2w.shape[0], CAMERA_DIM)
