"""How the tests are shared between pytest-xdist's processes (Makefile: --dist loadgroup
--no-loadscope-reorder): the files that take minutes go out first, and the tests that share
a fixture built once (per file, or per session by a conftest.py) go to one process
together, so that the fixture is built once. Only pytest here, so that
tests/test_scheduling.py can load it in a pytest of its own."""

import inspect
import os

import pytest

# The files that take minutes, longest first: each of the TEST_WORKERS processes takes the
# next unit of work as it finishes one, so with these started first the processes end
# together instead of one waiting on a late long file.
LONGEST_FIRST = ("test_recipe.py", "test_benchmarks.py", "test_jax_train.py", "test_train.py",
                 "test_video_folder.py", "test_horizon_tuning.py", "test_distribution.py")


def _fixtures(item):
    """The definitions of every fixture the test uses, directly or through other fixtures."""
    return [definition for definitions in item._fixtureinfo.name2fixturedefs.values()
            for definition in definitions]


def _shared_group(item):
    """The test's unit of work if it shares a fixture built once: "conftest:<names>" for
    session fixtures of a conftest.py (used by several files; pytest's own session fixtures,
    such as tmp_path_factory, build nothing to share), else its file's name for module
    fixtures; None if it shares neither."""
    session = sorted(definition.argname for definition in _fixtures(item)
                     if definition.scope == "session"
                     and os.path.basename(inspect.getsourcefile(definition.func)) == "conftest.py")
    if session:
        return "conftest:" + ",".join(session)
    if any(definition.scope == "module" for definition in _fixtures(item)):
        return item.path.name
    return None


# First, before pytest-xdist's own hook, which reads the xdist_group marks to name each
# test's unit of work: a mark added after it is ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The longest files first, then the rest in their order. The tests that use a session
    fixture of a conftest.py, whatever their file, are one unit of work (an xdist group), and
    so are the other tests of a file that use its module fixtures, or each process would
    build those fixtures again; every other test is a unit of its own, so that the processes
    share even one file's tests."""
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: each file's tests keep their order
    for item in items:
        group = _shared_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
