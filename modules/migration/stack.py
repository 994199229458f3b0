"""``Migration``: the one construct the payment stack adds when ``migration_enabled``; it wires the
VPN, replication, monitoring and cutover DNS together from typed inputs of the rest of the stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct

from modules.migration.connectivity import ConnectivityProps, DataCentreVpn
from modules.migration.cutover_dns import CutoverDns, CutoverDnsProps
from modules.migration.monitoring import MigrationMonitoring, MigrationMonitoringProps
from modules.migration.replication import Replication, ReplicationProps
from modules.settings import Settings


def execute_api_hostname(api_id: str, region: str) -> str:
    """The REST API's default hostname, used until the API has a custom domain."""
    return f"{api_id}.execute-api.{region}.amazonaws.com"


@dataclass(frozen=True)
class MigrationProps:
    settings: Settings
    kms_key_arn: str
    account_id: str
    partition: str
    vpc_id: str
    route_table_ids: Sequence[str]        # private + isolated
    private_subnet_ids: Sequence[str]
    aurora_security_group_id: str
    aurora_database: str
    aurora_secret_arn: str | None
    alert_topic_arn: str
    new_api_hostname: str
    new_api_alarm_name: str


class Migration(Construct):
    """Everything of the migration; ``graphs`` is the dashboard row, ``task_id`` what cutover reads."""

    def __init__(self, scope: Construct, id: str, props: MigrationProps):
        super().__init__(scope, id)
        s = props.settings
        self.vpn = DataCentreVpn(self, "vpn", ConnectivityProps(s, props.vpc_id, props.route_table_ids))
        self.replication = Replication(self, "dms", ReplicationProps(
            settings=s, kms_key_arn=props.kms_key_arn, account_id=props.account_id, partition=props.partition,
            vpc_id=props.vpc_id, subnet_ids=props.private_subnet_ids,
            aurora_security_group_id=props.aurora_security_group_id,
            aurora_database=props.aurora_database, aurora_secret_arn=props.aurora_secret_arn))
        self.monitoring = MigrationMonitoring(self, "monitoring", MigrationMonitoringProps(
            settings=s, alert_topic_arn=props.alert_topic_arn, instance_id=self.replication.instance_id,
            task_id=self.replication.task_id, task_arn=self.replication.task_arn))
        self.dns = CutoverDns(self, "dns", CutoverDnsProps(s, props.new_api_hostname, props.new_api_alarm_name))
        self.graphs = self.monitoring.graphs
        self.task_id = self.replication.task_id
