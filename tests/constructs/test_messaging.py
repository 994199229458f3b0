"""AlertTopic: the KMS-encrypted topic every alarm and deployment notification goes to."""

import json

from cdktf import Testing
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription

from modules.messaging import AlertsProps, AlertTopic
from tests.constructs.conftest import ACCOUNT, scoped, settings_for, synth_scope

KEY_ID = "11111111-2222-3333-4444-555555555555"


def test_topic_is_encrypted_and_mails_the_on_call(dev):
    synthesized = synth_scope(lambda scope: AlertTopic(scope, "alerts", AlertsProps(dev, KEY_ID, ACCOUNT)))
    assert Testing.to_have_resource_with_properties(synthesized, SnsTopic.TF_RESOURCE_TYPE, {
        "name": "payment-alerts-dev", "kms_master_key_id": KEY_ID})
    assert Testing.to_have_resource_with_properties(synthesized, SnsTopicSubscription.TF_RESOURCE_TYPE, {
        "protocol": "email", "endpoint": "ops@example.com"})
    assert not Testing.to_have_resource_with_properties(synthesized, SnsTopicSubscription.TF_RESOURCE_TYPE, {
        "protocol": "https"})


def test_https_endpoints_setting_adds_auto_confirmed_subscriptions():
    settings = settings_for("dev", alert_https_endpoints="https://pager.example.com/hook")
    synthesized = synth_scope(lambda scope: AlertTopic(scope, "alerts", AlertsProps(settings, KEY_ID, ACCOUNT)))
    assert Testing.to_have_resource_with_properties(synthesized, SnsTopicSubscription.TF_RESOURCE_TYPE, {
        "protocol": "https", "endpoint": "https://pager.example.com/hook", "endpoint_auto_confirms": True})


def test_only_this_accounts_alarms_may_publish(dev):
    built = scoped(lambda scope: AlertTopic(scope, "alerts", AlertsProps(dev, KEY_ID, ACCOUNT)))
    (policy,) = built.resources(SnsTopicPolicy.TF_RESOURCE_TYPE).values()
    (alarms,) = [s for s in json.loads(policy["policy"])["Statement"] if s["Sid"] == "CloudWatchAlarmsPublish"]
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert alarms["Resource"] == [built.ref(built.construct.arn)]  # typed output: the topic ARN
