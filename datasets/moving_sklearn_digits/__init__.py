"""moving_sklearn_digits dataset."""
