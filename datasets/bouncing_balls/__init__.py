"""bouncing_balls dataset."""
