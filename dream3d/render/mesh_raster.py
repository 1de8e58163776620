"""A differentiable triangle-mesh rasteriser in plain PyTorch, with nvdiffrast on CUDA.

The torch path works in two passes:

1. Visibility (no gradient). Every triangle is projected with :class:`Cameras`
   (OpenCV frames, pixel centres at ``+0.5``). Its screen bounding box is enumerated
   into (pixel, triangle) candidate pairs, in chunks of bounded size, so the cost
   follows the covered area rather than ``pixels x triangles``. Candidates whose pixel
   centre passes the three edge tests are kept, and a z-buffer (largest ``1/z``, i.e.
   nearest) picks one triangle per pixel.
2. Shading (differentiable). For the winning (pixel, triangle) pairs the screen-space
   barycentrics are recomputed from the projected vertices, made perspective-correct
   (weights ``(b_i / z_i) / sum_j (b_j / z_j)``), and used to interpolate UVs, vertex
   colours, normals and depth. The texture is read with ``F.grid_sample`` (bilinear).

So gradients reach the texture, vertex colours, and (through the barycentrics of the
covered pixels) vertex positions. Silhouette edges are not anti-aliased in the torch
path; render at a higher resolution and downsample when that matters.

Triangles with a vertex closer than ``near`` to the camera plane are dropped (no
clipping); orbit cameras around the unit sphere never need it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from dream3d import optional
from dream3d.cameras import Cameras
from dream3d.render.types import Render

BACKENDS = ("auto", "torch", "nvdiffrast")


@dataclass
class TexturedMesh:
    """A triangle mesh in world space with optional texture or vertex colours."""

    vertices: Tensor  # [V,3] world space
    faces: Tensor  # [F,3] long, counter-clockwise seen from outside
    uvs: Optional[Tensor] = None  # [T,2] OBJ convention: (0,0) is the image's bottom-left
    uv_faces: Optional[Tensor] = None  # [F,3] long indices into uvs; None means ``faces``
    texture: Optional[Tensor] = None  # [Ht,Wt,C] in [0,1]; row 0 is the top of the image (v=1)
    vertex_colors: Optional[Tensor] = None  # [V,C]
    vertex_normals: Optional[Tensor] = None  # [V,3] world space; None means flat face normals


@dataclass
class Fragments:
    """Which triangle covers each pixel centre (the non-differentiable pass)."""

    face_id: Tensor  # [B,H,W] long, -1 where no triangle covers the pixel centre


def edge_barycentrics(xy: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    """Screen-space barycentrics of points ``p [...,2]`` in triangles ``xy [...,3,2]``.

    Leading dimensions broadcast. Returns ``bary [...,3]`` and the signed doubled area
    ``[...]``; the sign of the area does not matter (either winding is rasterised).
    """
    a, b, c = xy[..., 0, :], xy[..., 1, :], xy[..., 2, :]

    def cross(u: Tensor, v: Tensor) -> Tensor:
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]

    area = cross(b - a, c - a)
    w0 = cross(c - b, p - b)
    w1 = cross(a - c, p - c)
    w2 = cross(b - a, p - a)
    safe = torch.where(area.abs() > 1e-12, area, torch.ones_like(area))
    return torch.stack([w0, w1, w2], dim=-1) / safe[..., None], area


def pixel_centres(pix: Tensor, width: int) -> Tensor:
    """Centres ``[K,2]`` (u, v) of flat pixel indices ``pix [K]``."""
    return torch.stack([(pix % width).float() + 0.5, torch.div(pix, width, rounding_mode="floor").float() + 0.5], -1)


def _resolve(pix: Tensor, face: Tensor, inv_depth: Tensor, n_pixels: int) -> Tensor:
    """Z-buffer: per pixel, the covering face with the largest ``1/z`` (ties: largest id)."""
    face_id = torch.full((n_pixels,), -1, dtype=torch.long, device=pix.device)
    if pix.numel() == 0:
        return face_id
    best = torch.full((n_pixels,), -float("inf"), device=pix.device)
    best = best.scatter_reduce(0, pix, inv_depth, reduce="amax")
    win = inv_depth >= best[pix]
    return face_id.scatter_reduce(0, pix[win], face[win], reduce="amax")


@torch.no_grad()
def rasterize_2d(
    xy: Tensor,
    height: int,
    width: int,
    inv_depth: Optional[Tensor] = None,
    max_pairs: int = 1 << 22,
) -> Tensor:
    """Rasterise 2D triangles by bounding-box enumeration; returns ``face_id [H*W]``.

    ``xy [F,3,2]`` are vertex positions in pixels (pixel ``(i, j)`` has its centre at
    ``(j + 0.5, i + 0.5)``). ``inv_depth [F,3]`` (``1/z`` per vertex) enables the
    z-test; without it overlapping triangles resolve to the largest face index.
    Candidate pairs are processed in chunks of at most about ``max_pairs``.
    """
    n_faces = xy.shape[0]
    device = xy.device
    lo = torch.ceil(xy.amin(dim=1) - 0.5).long()  # [F,2] first pixel column/row
    hi = torch.floor(xy.amax(dim=1) - 0.5).long()  # [F,2] last pixel column/row
    lo[:, 0].clamp_(min=0)
    lo[:, 1].clamp_(min=0)
    hi[:, 0].clamp_(max=width - 1)
    hi[:, 1].clamp_(max=height - 1)
    span = (hi - lo + 1).clamp(min=0)  # [F,2]
    counts = span[:, 0] * span[:, 1]  # [F]
    if inv_depth is None:
        inv_depth = torch.zeros(n_faces, 3, device=device)
    keep = torch.nonzero(counts > 0).squeeze(1)
    found_pix, found_face, found_inv = [], [], []
    start = 0
    csum = torch.cumsum(counts[keep], 0)
    while start < keep.numel():
        # Largest run of faces whose candidate pairs fit in the budget (at least one face).
        base = csum[start - 1] if start > 0 else csum.new_zeros(())
        stop = int(torch.searchsorted(csum, base + max_pairs, right=True))
        stop = max(stop, start + 1)
        ids = keep[start:stop]  # [f]
        c = counts[ids]
        tri = torch.repeat_interleave(ids, c)  # [K]
        offset = torch.arange(tri.numel(), device=device) - torch.repeat_interleave(torch.cumsum(c, 0) - c, c)
        w = span[tri, 0]
        col = lo[tri, 0] + offset % w
        row = lo[tri, 1] + torch.div(offset, w, rounding_mode="floor")
        pix = row * width + col
        bary, area = edge_barycentrics(xy[tri], pixel_centres(pix, width))
        inside = (bary >= 0).all(dim=-1) & (area.abs() > 1e-12)
        found_pix.append(pix[inside])
        found_face.append(tri[inside])
        found_inv.append((bary[inside] * inv_depth[tri[inside]]).sum(-1))
        start = stop
    if not found_pix:
        return torch.full((height * width,), -1, dtype=torch.long, device=device)
    return _resolve(torch.cat(found_pix), torch.cat(found_face), torch.cat(found_inv), height * width)


@torch.no_grad()
def rasterize_2d_naive(
    xy: Tensor, height: int, width: int, inv_depth: Optional[Tensor] = None, max_pairs: int = 1 << 22
) -> Tensor:
    """Reference rasteriser: tests every pixel against every triangle, densely.

    Same contract and tie-breaking as :func:`rasterize_2d`, without the binning; for
    tests and benchmarks.
    """
    n_faces = xy.shape[0]
    n_pixels = height * width
    if inv_depth is None:
        inv_depth = torch.zeros(n_faces, 3, device=xy.device)
    centres = pixel_centres(torch.arange(n_pixels, device=xy.device), width)[:, None, :]  # [P,1,2]
    best = torch.full((n_pixels,), -float("inf"), device=xy.device)
    face_id = torch.full((n_pixels,), -1, dtype=torch.long, device=xy.device)
    step = max(1, max_pairs // n_pixels)
    for start in range(0, n_faces, step):
        ids = torch.arange(min(start + step, n_faces) - 1, start - 1, -1, device=xy.device)  # descending
        bary, area = edge_barycentrics(xy[ids][None], centres)  # [P,f,3], [1,f]
        inside = (bary >= 0).all(dim=-1) & (area.abs() > 1e-12)  # [P,f]
        inv = torch.where(inside, (bary * inv_depth[ids][None]).sum(-1), torch.full_like(area, -float("inf")))
        chunk_best, arg = inv.max(dim=1)  # first maximum = largest face id
        better = (chunk_best >= best) & (chunk_best > -float("inf"))
        best = torch.where(better, chunk_best, best)
        face_id = torch.where(better, ids[arg], face_id)
    return face_id


def _project(mesh: TexturedMesh, cameras: Cameras) -> tuple[Tensor, Tensor]:
    """Pixel coordinates ``[B,V,2]`` and camera depth ``[B,V]`` of every vertex."""
    points = mesh.vertices[None].expand(len(cameras), -1, -1)
    return cameras.project(points)


@torch.no_grad()
def rasterize(mesh: TexturedMesh, cameras: Cameras, near: float = 1e-3, naive: bool = False) -> Fragments:
    """The visible triangle at every pixel centre of every camera (torch path)."""
    uv, depth = _project(mesh, cameras)
    faces = mesh.faces
    ids = []
    for b in range(len(cameras)):
        xy = uv[b, faces].detach()  # [F,3,2]
        z = depth[b, faces].detach()  # [F,3]
        valid = (z > near).all(dim=-1)
        inv = torch.where(valid[:, None], 1.0 / z.clamp_min(near), torch.zeros_like(z))
        xy = torch.where(valid[:, None, None], xy, torch.full_like(xy, -1e9))  # off-screen
        fn = rasterize_2d_naive if naive else rasterize_2d
        ids.append(fn(xy, cameras.height, cameras.width, inv))
    return Fragments(torch.stack(ids).view(len(cameras), cameras.height, cameras.width))


def face_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Unit normals ``[F,3]`` of counter-clockwise triangles."""
    v = vertices[faces]  # [F,3,3]
    return F.normalize(torch.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=-1), dim=-1)


def sample_texture(texture: Tensor, uv: Tensor) -> Tensor:
    """Bilinear lookup of ``texture [Ht,Wt,C]`` at OBJ-convention ``uv [K,2]`` -> ``[K,C]``.

    Texel ``(row r, col c)`` has its centre at ``u = (c + 0.5)/Wt``, ``v = 1 - (r + 0.5)/Ht``;
    lookups outside the texel centres clamp to the border.
    """
    grid = torch.stack([uv[:, 0] * 2.0 - 1.0, (1.0 - uv[:, 1]) * 2.0 - 1.0], dim=-1)
    image = texture.permute(2, 0, 1)[None]  # [1,C,Ht,Wt]
    out = F.grid_sample(image, grid[None, None], mode="bilinear", padding_mode="border", align_corners=False)
    return out[0, :, 0].T  # [K,C]


def _background(background: Tensor | Sequence[float] | float, like: Tensor) -> Tensor:
    """Background as a tensor broadcastable to ``[B,H,W,C]``."""
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device)
    return bg if bg.dim() == 4 else bg.reshape(1, 1, 1, -1)


def _shade_torch(mesh: TexturedMesh, cameras: Cameras, frags: Fragments, background, near: float) -> Render:
    """The differentiable pass: interpolate attributes at the visible triangles."""
    B, H, W = len(cameras), cameras.height, cameras.width
    uv_px, depth = _project(mesh, cameras)  # [B,V,2], [B,V]
    flat = frags.face_id.reshape(-1)  # [B*H*W]
    pixels = torch.nonzero(flat >= 0).squeeze(1)  # [K] flat index into B*H*W
    face = flat[pixels]  # [K]
    batch = torch.div(pixels, H * W, rounding_mode="floor")
    corner = mesh.faces[face]  # [K,3]
    xy = uv_px[batch[:, None], corner]  # [K,3,2]
    bary, _ = edge_barycentrics(xy, pixel_centres(pixels % (H * W), W))
    inv_z = 1.0 / depth[batch[:, None], corner].clamp_min(near)  # [K,3]
    persp = bary * inv_z
    z = 1.0 / persp.sum(-1, keepdim=True)  # [K,1] camera depth
    weights = persp * z  # [K,3] perspective-correct barycentrics

    def interp(attr: Tensor, idx: Tensor) -> Tensor:
        return (attr[idx] * weights[..., None]).sum(1)  # [K,C]

    if mesh.texture is not None and mesh.uvs is not None:
        uv_faces = mesh.faces if mesh.uv_faces is None else mesh.uv_faces
        color = sample_texture(mesh.texture, interp(mesh.uvs, uv_faces[face]))
    elif mesh.vertex_colors is not None:
        color = interp(mesh.vertex_colors, corner)
    else:
        color = torch.full((face.numel(), 3), 0.8, device=flat.device)
    if mesh.vertex_normals is not None:
        normal = F.normalize(interp(mesh.vertex_normals, corner), dim=-1)
    else:
        normal = face_normals(mesh.vertices, mesh.faces)[face]

    def image(values: Tensor) -> Tensor:
        out = values.new_zeros(B * H * W, values.shape[-1]).index_put((pixels,), values)
        return out.view(B, H, W, -1)

    alpha = (frags.face_id >= 0).to(color.dtype)[..., None]  # [B,H,W,1]
    rgb = image(color) + (1.0 - alpha) * _background(background, alpha)
    extras = {"face_id": frags.face_id}
    return Render(rgb=rgb, alpha=alpha, depth=image(z), normal=image(normal), extras=extras)


def choose_backend(backend: str, device: torch.device) -> str:
    """Resolve ``auto`` to ``nvdiffrast`` (CUDA tensors and nvdiffrast importable) or ``torch``."""
    if backend not in BACKENDS:
        raise ValueError(f"mesh rasteriser backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return "torch"
    dr = optional.nvdiffrast_torch() if device.type == "cuda" else None
    if backend == "nvdiffrast":
        optional.require(dr, "the nvdiffrast mesh rasteriser", "`pip install nvdiffrast` (and tensors on a GPU)")
    chosen = "nvdiffrast" if dr is not None else "torch"
    optional.announce_backend("mesh rasteriser", chosen)
    return chosen


def render_mesh(
    mesh: TexturedMesh,
    cameras: Cameras,
    background: Tensor | Sequence[float] | float = 1.0,
    backend: str = "auto",
    near: float = 1e-3,
) -> Render:
    """Render ``mesh`` from ``cameras``.

    Returns a :class:`Render` with ``rgb [B,H,W,C]`` composited over ``background``,
    ``alpha [B,H,W,1]`` (coverage of the pixel centre), ``depth [B,H,W,1]`` (camera z,
    0 on the background), world-space ``normal [B,H,W,3]`` (0 on the background) and
    ``extras["face_id"] [B,H,W]`` (-1 on the background, torch path only).
    Colour comes from the texture when ``uvs`` and ``texture`` are set, else from
    vertex colours, else a flat grey.
    """
    if choose_backend(backend, mesh.vertices.device) == "nvdiffrast":
        from dream3d.render.nvdiffrast_backend import render_mesh_nvdiffrast

        return render_mesh_nvdiffrast(mesh, cameras, background, near)
    frags = rasterize(mesh, cameras, near=near)
    return _shade_torch(mesh, cameras, frags, background, near)
