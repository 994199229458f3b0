"""Messaging: the KMS-encrypted alert topic, its subscriptions, and a topic policy that lets this
account's CloudWatch alarms publish to it (CodeDeploy publishes as its in-account service role)."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription

from modules.iam import Statement, policy_document
from modules.settings import Settings


@dataclass(frozen=True)
class AlertsProps:
    settings: Settings
    kms_key_id: str
    account_id: str
    partition: str = "aws"
    event_rules_publish: bool = False  # the migration's DMS task rule targets the topic


class AlertTopic(Construct):
    """Where every alarm and deployment notification goes."""

    def __init__(self, scope: Construct, id: str, props: AlertsProps):
        super().__init__(scope, id)
        s = props.settings
        self.topic = SnsTopic(
            self, "topic", name=s.name("alerts"), display_name=f"Payment alerts ({s.environment})",
            kms_master_key_id=props.kms_key_id,
        )
        self.arn = self.topic.arn
        event_rules = [Statement(
            sid="EventBridgeRulesPublish", actions=["sns:Publish"],
            principals={"Service": "events.amazonaws.com"}, resources=[self.topic.arn],
            conditions={"StringEquals": {"aws:SourceAccount": props.account_id},
                        "ArnLike": {"aws:SourceArn":
                                    f"arn:{props.partition}:events:{s.region}:{props.account_id}:rule/*"}},
        )] if props.event_rules_publish else []
        SnsTopicPolicy(
            self, "policy", arn=self.topic.arn,
            policy=policy_document(
                Statement(
                    sid="AccountManagesTopic",
                    actions=["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes",
                             "sns:SetTopicAttributes", "sns:ListSubscriptionsByTopic"],
                    principals={"AWS": f"arn:{props.partition}:iam::{props.account_id}:root"},
                    resources=[self.topic.arn],
                ),
                Statement(
                    sid="CloudWatchAlarmsPublish", actions=["sns:Publish"],
                    principals={"Service": "cloudwatch.amazonaws.com"}, resources=[self.topic.arn],
                    conditions={"StringEquals": {"aws:SourceAccount": props.account_id},
                                "ArnLike": {"aws:SourceArn":
                                            f"arn:{props.partition}:cloudwatch:{s.region}:{props.account_id}:alarm:*"}},
                ),
                *event_rules,
            ),
        )
        SnsTopicSubscription(self, "email", topic_arn=self.topic.arn, protocol="email",
                             endpoint=s.alert_email)
        for n, url in enumerate(s.https_alert_endpoints):
            SnsTopicSubscription(self, f"https-{n}", topic_arn=self.topic.arn, protocol="https",
                                 endpoint=url, endpoint_auto_confirms=True)
