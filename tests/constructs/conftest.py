"""Construct-level unit tests in the cdktf idiom: synthesize one construct with typed props, assert
with ``cdktf.Testing`` matchers. Each test file doubles as an example of how its construct is used.

``synth_scope`` is exactly what ``Testing.synth_scope`` does in cdktf 0.21 (a ``TerraformStack`` on
``Testing.app()``, the callback, ``Testing.synth``): the Python binding of ``Testing.synth_scope``
cannot take a Python callable (jsii: "Cannot pass function as argument here", open upstream as
hashicorp/terraform-cdk#2871), so the three steps are spelled out here once.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import pytest

import modules  # noqa: F401  (first: the fast provider import)
from cdktf import App, DefaultTokenResolver, StringConcat, TerraformStack, Testing, Tokenization
from constructs import Construct

from modules.settings import Settings, build_settings
from tests.support import API_CERTIFICATE, API_DOMAIN, DR_API_CERTIFICATE, HOSTED_ZONE

Testing.__test__ = False  # a class named Test* in a test module's namespace is not a test class

ACCOUNT = "123456789012"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:payment-alerts-dev"


@dataclass
class Scoped:
    """One synthesized scope: the JSON ``Testing`` matchers take, and what the callback built."""

    synthesized: str
    construct: Any
    stack: TerraformStack

    def ref(self, output: str) -> str:
        """How a typed output (a token such as ``bucket.arn``) appears in the JSON: ``${type.id.attr}``."""
        return str(Tokenization.resolve(output, scope=self.stack, preparing=False,
                                        resolver=DefaultTokenResolver(StringConcat())))

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        """JSON-level view, only for what the matchers cannot say (counts, embedded JSON documents)."""
        return json.loads(self.synthesized).get("resource", {}).get(rtype, {})


# Testing.app() makes a fresh temporary outdir per call; synth_scope never writes to it, so every
# scope of this process shares one (removed at exit) instead of leaving a directory behind per test.
_OUTDIR = tempfile.mkdtemp(prefix="cdktf-testing-")
atexit.register(shutil.rmtree, _OUTDIR, True)


def cdktf_testing_app() -> App:
    return Testing.app(outdir=_OUTDIR)


def scoped(build: Callable[[Construct], Any]) -> Scoped:
    stack = TerraformStack(cdktf_testing_app(), "stack")
    construct = build(stack)
    return Scoped(Testing.synth(stack), construct, stack)


def synth_scope(build: Callable[[Construct], Any]) -> str:
    """``Testing.synth_scope(build)`` as cdktf documents it."""
    return scoped(build).synthesized


# What modules/platform.py configure_backend reads from the caller's environment besides the settings.
BACKEND_VARS = ("PAYMENTS_BACKEND", "PAYMENTS_STATE_BUCKET", "PAYMENTS_STATE_REGION", "PAYMENTS_STATE_ENDPOINT")


def synth_stack(make_stack: Callable[[App], TerraformStack]) -> str:
    """``Testing.synth`` of a whole stack, its backend built from the settings alone."""
    with pytest.MonkeyPatch.context() as env:
        for var in BACKEND_VARS:
            env.delenv(var, raising=False)
        return Testing.synth(make_stack(cdktf_testing_app()))


def settings_for(environment: str = "dev", **context: object) -> Settings:
    """Typed settings as main.py builds them, without the caller's environment variables."""
    return build_settings({"environmentSuffix": environment, **context}, env={})


@pytest.fixture(scope="session")
def dev() -> Settings:
    return settings_for("dev")


def prod_settings(**context: object) -> Settings:
    """Production as it must be configured (its custom domain, in both regions), ``context`` on top."""
    return settings_for("prod", api_domain_name=API_DOMAIN, api_certificate_arn=API_CERTIFICATE,
                        dr_api_certificate_arn=DR_API_CERTIFICATE, dr_hosted_zone_id=HOSTED_ZONE, **context)


@pytest.fixture(scope="session")
def prod() -> Settings:
    """Production as it must be configured: with its custom domain (settings rule)."""
    return prod_settings()
