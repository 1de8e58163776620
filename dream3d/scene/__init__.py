"""What is optimised: NeRF fields, Gaussians, textured meshes, backgrounds."""
