"""video_folder dataset."""
