"""The datasets users can name, the TFDS builders that make them, and preparing them.

Each dataset is a TFDS builder folder under the repository's `datasets/` (installed as
the package `tf_deepgifs_datasets`, so that the distribution claims no generic top-level
name). Users name datasets by their short name (`bouncing_balls`, `moving_mnist`); the
registered TFDS name can differ, because TFDS already registers its own `moving_mnist`
(the fixed Toronto test file), so ours is registered as `deepgifs_moving_mnist`.

Preparing a dataset is TFDS's own `download_and_prepare`, what `tfds build` runs too.
"""

import dataclasses
import importlib
import os

import tensorflow_datasets as tfds

from tf_deepgifs.errors import UnknownDatasetError, UserError

BUILDERS_PACKAGE = "tf_deepgifs_datasets"  # the repository's datasets/, installed
# Where slices for quick checks (`max_examples_per_split`) are built when no data
# directory is given: beside the runs, never over a full build in TFDS's default folder.
SMALL_DATA_DIR = os.path.join("runs", "tfds_small")


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """A dataset users can name, and the TFDS builder folder that makes it."""

    name: str  # what users type: DATASET=<name>
    builder_name: str  # the TFDS registered name, also the folder under datasets/

    @property
    def module_name(self):
        return f"{BUILDERS_PACKAGE}.{self.builder_name}.{self.builder_name}_dataset_builder"


DATASETS = {
    "bouncing_balls": DatasetEntry("bouncing_balls", "bouncing_balls"),
    "moving_mnist": DatasetEntry("moving_mnist", "deepgifs_moving_mnist"),
    "video_folder": DatasetEntry("video_folder", "video_folder"),
    # Moving MNIST's motion with scikit-learn's digits: a stand-in where MNIST cannot be had
    "moving_sklearn_digits": DatasetEntry("moving_sklearn_digits", "moving_sklearn_digits"),
}


def resolve(dataset):
    """Returns (entry, config name or None) for 'name' or 'name/config'."""
    name, _, config = dataset.partition("/")
    if name not in DATASETS:
        raise UnknownDatasetError(
            f"Unknown dataset '{name}': choose one of {', '.join(sorted(DATASETS))}."
        )
    return DATASETS[name], config or None


def builder_class(dataset):
    """The TFDS `Builder` class of a dataset, imported from its package.

    Imported without registering it with TFDS: `tfds build datasets/<name>` and a test
    importing the folder register the same class under its folder's module name, and TFDS
    refuses a second registration of one name. Nothing here needs the registry.
    """
    entry, _ = resolve(dataset)
    try:
        with tfds.core.registered.skip_registration():
            module = importlib.import_module(entry.module_name)
    except ModuleNotFoundError as error:
        if not error.name or not BUILDERS_PACKAGE.startswith(error.name.split(".")[0]):
            raise
        raise UserError(f"The dataset builders ({BUILDERS_PACKAGE}) are not installed: "
                        "install the project first (make venv, or pip install .).") from None
    return module.Builder


def builder(dataset, data_dir=None):
    """The TFDS builder for 'name' or 'name/config', reading from `data_dir`."""
    _, config = resolve(dataset)
    kwargs = {"data_dir": data_dir}
    if config:
        kwargs["config"] = config
    return builder_class(dataset)(**kwargs)


def data_dir_of(data_config):
    """The TFDS data directory a `DataConfig` reads: its own, TFDS's default (None), or for
    a slice (`max_examples_per_split`) without one, SMALL_DATA_DIR."""
    if data_config.data_dir or data_config.max_examples_per_split is None:
        return data_config.data_dir
    return os.path.abspath(SMALL_DATA_DIR)


def build(dataset, data_dir=None, manual_dir=None, max_examples_per_split=None, log=print):
    """Writes the dataset (its default or named config) with TFDS's `download_and_prepare`.

    A dataset already on disk is kept, unless it was built from another folder of the
    user's files than `manual_dir` (a builder that can tell: `changed_since_build`), which
    is then built again, never silently reused. A `UserError` raised by a builder (a
    missing or corrupt MNIST file, an empty split) reaches the caller as it is, and TFDS
    leaves no finished-looking folder behind.
    """
    ready = builder(dataset, data_dir)
    if getattr(ready, "NEEDS_MANUAL_DIR", False) and not ready.is_prepared() and not (
            manual_dir and os.path.isdir(manual_dir)):
        raise UserError(f"{dataset} reads your files from a folder: pass it with --manual-dir "
                        f"(MANUAL_DIR= for make){f'; {manual_dir} is not a folder' if manual_dir else ''}.")
    mode = tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    if ready.is_prepared() and manual_dir and hasattr(ready, "changed_since_build") and (
            ready.changed_since_build(manual_dir)):
        log(f"{manual_dir} is not the folder {dataset} was built from (files added, removed "
            "or changed): building it again.")
        mode = tfds.download.GenerateMode.REUSE_CACHE_IF_EXISTS
    ready.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=manual_dir, max_examples_per_split=max_examples_per_split, download_mode=mode))
    return builder(dataset, data_dir)


def prepare(data_config, log=print):
    """The builder of a `DataConfig`'s dataset, built first if it is not on disk yet."""
    data_dir = data_dir_of(data_config)
    ready = builder(data_config.dataset, data_dir)
    if not ready.is_prepared():
        log(f"Building {data_config.dataset} first (download_and_prepare)...")
    if not ready.is_prepared() or data_config.manual_dir:  # (a changed folder is rebuilt)
        ready = build(data_config.dataset, data_dir, data_config.manual_dir,
                      data_config.max_examples_per_split, log)
    return ready
