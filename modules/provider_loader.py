"""Fast loading of the prebuilt AWS provider bindings.

`import cdktf_cdktf_provider_aws` executes a package ``__init__`` that imports all ~2,100 resource
submodules (12-17 s here; hashicorp/terraform-cdk#3753). The jsii assembly itself lives in the
``_jsii`` submodule and every resource submodule imports it on its own, so registering the package
as a bare namespace (without running its ``__init__``) lets ``from cdktf_cdktf_provider_aws.vpc
import Vpc`` load only what this project uses. The classes are the very same jsii types, so the
synthesized JSON is identical (tests/test_fast_import.py proves it byte for byte).

The same cost exists on the Node side: the jsii kernel ``require``s the npm package, whose index
eagerly requires the same ~2,100 modules (another 2-3 s). ``lazy_provider_index.js``, preloaded into
the kernel's Node process through ``NODE_OPTIONS``, turns those requires into getters. Both halves
only change *when* a module loads, never what it contains.

Set ``PAYMENTS_PROVIDER_IMPORT=eager`` to fall back to the normal import on both sides.

This is the only place that knows about the trick; moving to CDK Terrain or a newer binding means
changing ``PACKAGE`` (or deleting this module) and nothing else.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

PACKAGE = "cdktf_cdktf_provider_aws"
SWITCH = "PAYMENTS_PROVIDER_IMPORT"
NODE_PRELOAD = Path(__file__).resolve().with_name("lazy_provider_index.js")


def _preload_lazy_node_index() -> None:
    """Must run before the jsii kernel starts (it starts on the first assembly load)."""
    option = f'--require "{NODE_PRELOAD}"'
    current = os.environ.get("NODE_OPTIONS", "")
    if option not in current:
        os.environ["NODE_OPTIONS"] = f"{current} {option}".strip()


def install() -> str:
    """Make provider submodule imports cheap; return the mode used ("fast" or "eager")."""
    if os.environ.get(SWITCH, "fast").lower() == "eager":
        importlib.import_module(PACKAGE)
        return "eager"
    _preload_lazy_node_index()
    if PACKAGE in sys.modules:
        return "eager" if hasattr(sys.modules[PACKAGE], "acm_certificate") else "fast"
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{PACKAGE} is not installed (see requirements.txt)")
    package = types.ModuleType(PACKAGE)
    package.__spec__ = spec
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    package.__package__ = PACKAGE
    sys.modules[PACKAGE] = package
    # Loads the jsii assembly (about 2 s) once, as the package __init__ would have.
    importlib.import_module(f"{PACKAGE}._jsii")
    return "fast"


MODE = install()
