"""Delivery: zero-downtime releases of the payment functions with CodeDeploy.

Every function publishes versions and callers invoke its `live` alias (modules/compute.py). A
CodeDeploy deployment group per function shifts the alias from the current to the new version
(canary or linear, from settings) and rolls back by itself on failure or when the function's error
alarm or the API 5xx/latency alarms fire. `scripts/release.py` starts those deployments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.codedeploy_app import CodedeployApp
from cdktf_cdktf_provider_aws.codedeploy_deployment_group import (
    CodedeployDeploymentGroup, CodedeployDeploymentGroupAlarmConfiguration,
    CodedeployDeploymentGroupAutoRollbackConfiguration, CodedeployDeploymentGroupDeploymentStyle,
    CodedeployDeploymentGroupTriggerConfiguration,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment

from modules.iam import Statement, assume_role_policy, policy_document
from modules.settings import Settings

CODEDEPLOY_LAMBDA_POLICY = "service-role/AWSCodeDeployRoleForLambda"
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
NOTIFY_EVENTS = ["DeploymentFailure", "DeploymentRollback", "DeploymentStop", "DeploymentSuccess"]


def application_name(settings: Settings) -> str:
    return settings.name("release")


@dataclass(frozen=True)
class DeliveryProps:
    settings: Settings
    alert_topic_arn: str
    kms_key_arn: str                              # the alert topic's key
    function_names: Mapping[str, str]             # key -> function name (group name = function name)
    function_alarm_names: Mapping[str, str]       # key -> that function's error alarm name
    api_alarm_names: Sequence[str]                # API 5xx and latency alarms
    partition: str = "aws"


class ReleasePipeline(Construct):
    """CodeDeploy application (Lambda platform), service role, and one deployment group per function."""

    def __init__(self, scope: Construct, id: str, props: DeliveryProps):
        super().__init__(scope, id)
        s = props.settings
        role = IamRole(self, "role", name=s.name("codedeploy"),
                       assume_role_policy=assume_role_policy("codedeploy.amazonaws.com"))
        IamRolePolicyAttachment(self, "role-policy", role=role.name,
                                policy_arn=f"arn:{props.partition}:iam::aws:policy/{CODEDEPLOY_LAMBDA_POLICY}")
        # Trigger notifications are published as this role; the managed policy grants sns:Publish but
        # not the KMS use an encrypted topic needs.
        IamRolePolicy(self, "notify-encrypted-topic", role=role.id, name="notify-encrypted-alert-topic",
                      policy=policy_document(Statement(
                          sid="EncryptForAlertTopic", actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                          resources=[props.kms_key_arn],
                          conditions={"StringEquals": {"kms:ViaService": f"sns.{s.region}.amazonaws.com"}})))
        self.app = CodedeployApp(self, "app", name=application_name(s), compute_platform="Lambda")
        self.groups = {
            key: CodedeployDeploymentGroup(
                self, key, app_name=self.app.name, deployment_group_name=name,
                service_role_arn=role.arn, deployment_config_name=s.deployment_config,
                deployment_style=CodedeployDeploymentGroupDeploymentStyle(
                    deployment_option="WITH_TRAFFIC_CONTROL", deployment_type="BLUE_GREEN"),
                auto_rollback_configuration=CodedeployDeploymentGroupAutoRollbackConfiguration(
                    enabled=True, events=ROLLBACK_EVENTS),
                alarm_configuration=CodedeployDeploymentGroupAlarmConfiguration(
                    enabled=True, alarms=[props.function_alarm_names[key], *props.api_alarm_names]),
                trigger_configuration=[CodedeployDeploymentGroupTriggerConfiguration(
                    trigger_name="notify-alerts", trigger_events=NOTIFY_EVENTS,
                    trigger_target_arn=props.alert_topic_arn)],
            )
            for key, name in props.function_names.items()
        }
