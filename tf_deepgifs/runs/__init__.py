"""The run folder: its files, its configuration, and loading the model a run trained."""
