"""Load a function's app.py under a unique module name.

Every function's handler module is app.py (Handler: app.lambda_handler), as Lambda imports it from
/var/task; loading each under its own name lets one pytest process hold them all. The function's
other modules have unique names and are importable through pytest's pythonpath.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def load_handler_module(function_folder: str) -> ModuleType:
    """Import functions/<folder>/app.py freshly (so module-scope config reads the current env)."""
    name = f"{function_folder}_app"
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, FUNCTIONS / function_folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
