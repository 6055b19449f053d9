"""How the tests are shared between pytest-xdist's processes (Makefile: --dist loadgroup
--no-loadscope-reorder): the files that take minutes go out first, and the tests of a file
that share a module fixture go to one process together, so that the fixture is built once.
Only pytest here, so that tests/test_scheduling.py can load it in a pytest of its own."""

import pytest

# The files that take minutes, longest first: each of the TEST_WORKERS processes takes the
# next unit of work as it finishes one, so with these started first the processes end
# together instead of one waiting on a late long file.
LONGEST_FIRST = ("test_recipe.py", "test_benchmarks.py", "test_jax_train.py", "test_train.py",
                 "test_video_folder.py", "test_horizon_tuning.py", "test_distribution.py")


def _uses_a_module_fixture(item):
    """Whether the test uses a fixture built once per file (scope "module")."""
    return any(definition.scope == "module"
               for definitions in item._fixtureinfo.name2fixturedefs.values()
               for definition in definitions)


# First, before pytest-xdist's own hook, which reads the xdist_group marks to name each
# test's unit of work: a mark added after it is ignored.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The longest files first, then the rest in their order. The tests of a file that use
    its module fixtures are one unit of work (an xdist group), or each process would build
    those fixtures again; every other test is a unit of its own, so that the processes share
    even one file's tests."""
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: each file's tests keep their order
    for item in items:
        if _uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.path.name))
