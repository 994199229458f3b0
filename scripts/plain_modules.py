"""Import the plain-Python parts of ``modules/`` (settings, the rehearsal exclusion list) without
running the package ``__init__``: that registers the provider bindings and loads their jsii assembly,
which starts a Node kernel (~2 s) that an operator's cutover or merchant command never needs.

The ``modules`` package is put in place as a bare namespace only while the module (and whatever it
imports from ``modules``, e.g. ``modules.settings_rules``) loads, then taken away again, so a later
``import modules.<construct>`` in the same process still runs the package ``__init__`` (the fast
provider import) and reuses the modules already loaded. Where ``modules`` is imported already (the
test process, the app) the normal import is used.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

MODULES_DIR = Path(__file__).resolve().parent.parent / "modules"


def import_plain(name: str) -> types.ModuleType:
    """``modules.<name>``, imported without the ``modules`` package ``__init__``."""
    if "modules" in sys.modules:
        return importlib.import_module(f"modules.{name}")
    package = types.ModuleType("modules")
    package.__path__ = [str(MODULES_DIR)]
    package.__package__ = "modules"
    sys.modules["modules"] = package
    try:
        return importlib.import_module(f"modules.{name}")
    finally:
        if sys.modules.get("modules") is package:
            del sys.modules["modules"]
