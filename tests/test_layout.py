"""The package's layers (tf_deepgifs/__init__.py): each imports only those before it."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tf_deepgifs"
# Bottom to top; a module may import its own layer and the layers before it.
LAYERS = ["config", "errors", "data", "metrics", "models", "runs", "training", "evaluation", "cli"]
BASE = {"config": 0, "errors": 0}  # config and errors import nothing of each other's


def _layer(module):
    """The layer of a module named relative to the package ("data.arrays" -> "data")."""
    return module.split(".")[0]


def _imports(path):
    """The tf_deepgifs modules a file imports, relative to the package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "tf_deepgifs" or node.module.startswith("tf_deepgifs.")):
            base = node.module.removeprefix("tf_deepgifs").lstrip(".")
            found += [f"{base}.{alias.name}".strip(".") if not base else base for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name.removeprefix("tf_deepgifs").lstrip(".") for a in node.names
                      if a.name.startswith("tf_deepgifs.")]
    return [name for name in found if name]


def _rank(name):
    layer = _layer(name)
    return BASE.get(layer, LAYERS.index(layer))


def test_every_module_imports_only_its_own_layer_and_those_before_it():
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        if module in ("__init__", "__main__"):
            continue  # the package's entry points sit above every layer
        for imported in _imports(path):
            assert _layer(imported) in LAYERS, f"{module} imports {imported}, of no layer"
            assert _rank(imported) <= _rank(module), f"{module} imports {imported}, a layer above it"
        checked += 1
    assert checked > 30


def test_only_the_command_line_reaches_the_export_package():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                assert not any(n and n.startswith(("tf_deepgifs_export", "export")) for n in names), path
