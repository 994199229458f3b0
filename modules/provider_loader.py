"""Fast loading of the prebuilt AWS provider bindings.

`import cdktf_cdktf_provider_aws` executes a package ``__init__`` that imports all ~2,100 resource
submodules (12-17 s here; hashicorp/terraform-cdk#3753). The jsii assembly itself lives in the
``_jsii`` submodule and every resource submodule imports it on its own, so registering the package
as a bare namespace (without running its ``__init__``) lets ``from cdktf_cdktf_provider_aws.vpc
import Vpc`` load only what this project uses. The classes are the very same jsii types, so the
synthesized JSON is identical (tests/test_fast_import.py proves it byte for byte).

Set ``PAYMENTS_PROVIDER_IMPORT=eager`` to fall back to the normal import.

This is the only place that knows about the trick; moving to CDK Terrain or a newer binding means
changing ``PACKAGE`` (or deleting this module) and nothing else.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

PACKAGE = "cdktf_cdktf_provider_aws"
SWITCH = "PAYMENTS_PROVIDER_IMPORT"


def install() -> str:
    """Make provider submodule imports cheap; return the mode used ("fast" or "eager")."""
    if os.environ.get(SWITCH, "fast").lower() == "eager":
        importlib.import_module(PACKAGE)
        return "eager"
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
