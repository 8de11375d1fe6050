"""Models of the micromasters_import app."""
