"""`pip install .` (not editable): the package, its builders and its runner work from any
folder, and the distribution claims no name it does not own."""

import email
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

# Commands in processes of their own, or runs of seconds: the whole suite only.
pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parent.parent
OWN_NAMES = {"tf_deepgifs", "tf_deepgifs_datasets", "tf_deepgifs_export"}
SOURCES = ("pyproject.toml", "README.md", "tf_deepgifs", "datasets", "export")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The repository installed (without its dependencies, which the test venv has) into a
    folder of its own: (that folder, an environment that imports from it)."""
    target, source = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("source")
    for name in SOURCES:  # a copy, so that setuptools' build/ folder lands there, not here
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                           if (REPO / name).is_dir() else {}))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return target, dict(os.environ, PYTHONPATH=str(target), TF_CPP_MIN_LOG_LEVEL="2")


def _run(env, *command, cwd):
    return subprocess.run([sys.executable, *map(str, command)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_distribution_installs_only_names_it_owns_and_declares_its_dependencies(installed):
    target, _ = installed
    names = {p.name for p in target.iterdir()
             if not p.name.endswith((".dist-info", ".egg-info")) and p.name != "bin"}
    assert names == OWN_NAMES
    info = next(target.glob("tf_deepgifs-*.dist-info"))
    requires = email.message_from_string((info / "METADATA").read_text()).get_all("Requires-Dist")
    for pinned in ("tensorflow==2.21.0", "keras==3.15.1", "onnxruntime==1.32.0"):
        assert pinned in requires
    # Every package of the source is installed: a layer left out of pyproject.toml's list
    # breaks the installed commands that reach it.
    for module in (REPO / "tf_deepgifs").rglob("*.py"):
        installed_module = target / module.relative_to(REPO)
        assert installed_module.exists(), f"{module.relative_to(REPO)} is not installed"
    builder = target / "tf_deepgifs_datasets" / "bouncing_balls"
    assert (builder / "README.md").exists() and (builder / "CITATIONS.bib").exists()


def test_the_installed_commands_builders_and_runner_work_from_any_folder(installed, tmp_path):
    target, env = installed
    where = _run(env, "-c", "import tf_deepgifs; print(tf_deepgifs.__file__)", cwd=tmp_path)
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    built = _run(env, "-m", "tf_deepgifs", "data", "--data-dir", tmp_path / "data",
                 "--max-examples-per-split", 2, cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "data" / "bouncing_balls" / "paper" / "1.0.0").is_dir()
    runner = _run(env, "-m", "tf_deepgifs_export.generate", "--help", cwd=tmp_path)
    assert runner.returncode == 0 and "--seed" in runner.stdout, runner.stderr[-2000:]
