"""How the suite is shared between pytest-xdist's processes (tests/scheduling.py), checked
in a pytest of its own on a folder of made-up test files: a module fixture, and a session
fixture of a conftest.py used by several files, are built once, and a file's other tests go
to whichever process is free."""

import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SHARED = """
    import os
    import pytest

    def _record(tmp, what):
        with open(os.path.join(tmp, "record.txt"), "a") as f:
            f.write(what + " " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")

    @pytest.fixture(scope="module")
    def built_once():
        _record(os.environ["RECORD_DIR"], "built")

    @pytest.mark.parametrize("i", range(4))
    def test_shares_the_fixture(built_once, i):
        _record(os.environ["RECORD_DIR"], "shared")
"""

CONFTEST = """
    import os
    import pytest

    from tests.scheduling import pytest_collection_modifyitems  # noqa: F401

    @pytest.fixture(scope="session")
    def exported_once():
        with open(os.path.join(os.environ["RECORD_DIR"], "record.txt"), "a") as f:
            f.write("exported " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""

# Two files use the session fixture, one of them through a module fixture of its own.
USES_SESSION = """
    import os
    import pytest

    @pytest.fixture(scope="module")
    def through_it(exported_once):
        return exported_once

    @pytest.mark.parametrize("i", range(2))
    def test_directly(exported_once, i):
        with open(os.path.join(os.environ["RECORD_DIR"], "record.txt"), "a") as f:
            f.write("session " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")

    @pytest.mark.parametrize("i", range(2))
    def test_through_a_module_fixture(through_it, i):
        with open(os.path.join(os.environ["RECORD_DIR"], "record.txt"), "a") as f:
            f.write("session " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""

ALONE = """
    import os
    import time

    import pytest

    @pytest.mark.parametrize("i", range(4))
    def test_alone(i):
        time.sleep(0.5)
        with open(os.path.join(os.environ["RECORD_DIR"], "record.txt"), "a") as f:
            f.write("alone " + os.environ["PYTEST_XDIST_WORKER"] + "\\n")
"""


def _project(tmp_path):
    """A folder of test files whose conftest.py takes the suite's scheduling hooks."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    for name in ("test_export_like.py", "test_generate_like.py"):
        (tmp_path / name).write_text(textwrap.dedent(USES_SESSION))
    (tmp_path / "test_shared.py").write_text(textwrap.dedent(SHARED))
    (tmp_path / "test_alone.py").write_text(textwrap.dedent(ALONE))
    (tmp_path / "test_recipe.py").write_text("def test_first():\n    pass\n")
    return dict(os.environ, PYTHONPATH=REPO, RECORD_DIR=str(tmp_path))


def _pytest(tmp_path, env, *options):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         *options, str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_shared_fixtures_are_built_once_and_other_tests_share_the_processes(tmp_path):
    env = _project(tmp_path)
    result = _pytest(tmp_path, env, "-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder")
    assert result.returncode == 0, result.stdout[-3000:]
    lines = [line.split() for line in (tmp_path / "record.txt").read_text().splitlines()]
    built = [worker for what, worker in lines if what == "built"]
    shared = {worker for what, worker in lines if what == "shared"}
    alone = {worker for what, worker in lines if what == "alone"}
    assert len(built) == 1 and shared == set(built), lines
    exported = [worker for what, worker in lines if what == "exported"]
    session = [worker for what, worker in lines if what == "session"]
    assert len(exported) == 1 and len(session) == 8 and set(session) == set(exported), lines
    assert alone == {"gw0", "gw1"}, lines


def test_the_files_that_take_minutes_go_out_first(tmp_path):
    result = _pytest(tmp_path, _project(tmp_path), "--collect-only", "-q")
    assert result.returncode == 0, result.stdout[-3000:]
    first = result.stdout.splitlines()[0]
    assert first.startswith("test_recipe.py::test_first"), result.stdout
