"""Config parameters: the SSM names other systems read (``/payment/<name>-<env>``), as in the seed."""

from __future__ import annotations

from typing import Mapping

from constructs import Construct
from cdktf_cdktf_provider_aws.ssm_parameter import SsmParameter

from modules.settings import Settings


def parameter_name(name: str, environment: str) -> str:
    return f"/payment/{name}-{environment}"


class PlatformParameters(Construct):
    """One String parameter per entry of ``values`` (non-secret identifiers only)."""

    def __init__(self, scope: Construct, id: str, settings: Settings, values: Mapping[str, tuple[str, str]]):
        super().__init__(scope, id)
        self.parameters = {
            name: SsmParameter(
                self, name, name=parameter_name(name, settings.environment), type="String",
                value=value, description=description,
            )
            for name, (value, description) in values.items()
        }
