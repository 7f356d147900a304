"""Data sources: the procedural shapes stream, image conversions."""
