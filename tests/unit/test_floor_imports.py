"""The floors (archlab/floors/apps) import only the shared SQL (shopdata), the shared
plumbing, the microservices' shared client and service tokens (microservices.common),
flask and the standard library: never an architecture's own code, so what an
architecture loses against its floor is the cost of that code and nothing it shares."""

import ast
import sys
from pathlib import Path

import archlab.floors.apps

APPS = Path(archlab.floors.apps.__file__).parent
ALLOWED = ("shopdata", "plumbing", "microservices.common", "flask", "archlab.floors.apps")


def _allowed(module: str) -> bool:
    root = module.split(".")[0]
    return root in sys.stdlib_module_names or any(
        module == a or module.startswith(a + ".") for a in ALLOWED)


def forbidden_imports(source: str) -> list[str]:
    """The modules `source` imports that a floor may not import (relative imports are
    the floors' own package)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if not _allowed(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module == "microservices":
                # `from microservices import inventory` names the module in the alias.
                found += [f"microservices.{a.name}" for a in node.names
                          if not _allowed(f"microservices.{a.name}")]
            elif not _allowed(node.module):
                found.append(node.module)
    return found


def test_every_floor_imports_only_shared_code():
    modules = sorted(APPS.glob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "monolith.py", "microservices.py"}
    for path in modules:
        assert forbidden_imports(path.read_text()) == [], path.name


def test_the_check_catches_an_architectures_own_code():
    source = ("import os\nfrom flask import request\nfrom shopdata.stock import StockQueries\n"
              "from microservices.common.client import ServiceClient\n"
              "from monolith.data.repositories import ProductRepository\n"
              "import microservices.inventory.repository\n"
              "from microservices import catalog, common\nfrom . import floor_app\n"
              "import webui.views\n")
    assert forbidden_imports(source) == ["monolith.data.repositories",
                                         "microservices.inventory.repository",
                                         "microservices.catalog", "webui.views"]
