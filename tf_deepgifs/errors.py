"""Errors a user can act on. The CLI prints their message alone and exits non-zero."""


class UserError(Exception):
    """Base class: a bad argument, a missing or malformed input file."""


class UnknownDatasetError(UserError, ValueError):
    """A dataset name that the project does not provide."""


class IDXFormatError(UserError, ValueError):
    """A file that is not a valid MNIST IDX file of the expected kind."""


class MissingMNISTError(UserError, FileNotFoundError):
    """Neither manual MNIST IDX files nor TFDS's `mnist` download could be had."""
