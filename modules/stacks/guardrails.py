"""Stack ``payments-guardrails``: the organisation's service control policies for the environment
accounts (modules/guardrails.py), applied by an operator in the management account.

Synthesized when PAYMENTS_GUARDRAILS_TARGETS is set (docs/operators/guardrails.md). The provider
refuses any account but PAYMENTS_MANAGEMENT_ACCOUNT_ID, and the state goes to that account's state
bucket (``make bootstrap`` there first), never to an environment account the policies restrict.
"""

from __future__ import annotations

import dataclasses

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from modules.guardrails import Guardrails, GuardrailsProps
from modules.platform import aws_provider, configure_backend, partition, state_region
from modules.settings import Settings

STACK_NAME = "payments-guardrails"
STATE_KEY = "payments/guardrails/terraform.tfstate"
ORGANISATION = "organisation"  # the Environment tag of what the stack creates


def platform_regions(settings: Settings) -> list[str]:
    """The setting, else the platform's region; the state bucket's region and the disaster-recovery
    region always (every stack's backend is in the one; the replicas are in the other)."""
    return sorted({*(settings.guardrail_regions or (settings.region,)), state_region(),
                   *((settings.dr_region,) if settings.dr_region else ())})


class GuardrailsStack(TerraformStack):
    """The two SCPs of modules/guardrails.py attached to PAYMENTS_GUARDRAILS_TARGETS."""

    def __init__(self, scope: Construct, settings: Settings):
        super().__init__(scope, STACK_NAME)
        # The organisation's stack, not an environment's: its tags and its state account say so
        # (whichever ENVIRONMENT_SUFFIX the operator synthesizes with, the JSON is the same).
        management = dataclasses.replace(settings, account_id=settings.management_account_id,
                                         environment=ORGANISATION)
        provider = aws_provider(self, management)
        # A plan with an environment account's credentials fails before it reads anything.
        provider.allowed_account_ids = [settings.management_account_id]
        if settings.rehearsal:  # Organizations too is answered by the local endpoint
            provider.add_override("endpoints.0.organizations", settings.aws_endpoint)
        configure_backend(self, management, key=STATE_KEY)
        self.guardrails = Guardrails(self, "guardrails", GuardrailsProps(
            targets=settings.guardrail_targets, regions=platform_regions(settings),
            break_glass_arn=settings.break_glass_role_arn, partition=partition(settings.region)))
        for name, policy in self.guardrails.policies.items():
            TerraformOutput(self, f"{name}-id", value=policy.id,
                            description=f"id of the service control policy {name}")
