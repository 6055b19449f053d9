"""deepgifs_moving_mnist dataset."""
