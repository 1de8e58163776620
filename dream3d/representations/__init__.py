"""What a stage optimises, behind ``dream3d.interfaces.Representation``: a NeRF, 3D Gaussians,
or a textured mesh of fixed geometry."""
