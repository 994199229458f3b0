"""What every cluster of the customer database stands on: its subnet group, its parameters (TLS only,
connection logging, query logging that never writes row values) and its log group under our key.
One definition for the primary cluster (modules/data.py) and the global database's secondary
(modules/global_database.py), which must log and refuse plaintext the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup
from cdktf_cdktf_provider_aws.rds_cluster_parameter_group import (
    RdsClusterParameterGroup, RdsClusterParameterGroupParameter,
)

from modules.logs import encrypted_log_group
from modules.settings import Settings

AURORA_ENGINE = "aurora-postgresql"
AURORA_PARAMETER_FAMILY = "aurora-postgresql15"
SLOW_QUERY_MS = 1000


def cluster_parameter_group(scope: Construct, id: str, name: str) -> RdsClusterParameterGroup:
    """Parameter group ``name``: ``rds.force_ssl``, connection logs, DDL always and other statements
    only when slow; never "all"/"mod" (row values in the log), no bind-parameter values."""
    return RdsClusterParameterGroup(
        scope, id, name=name, family=AURORA_PARAMETER_FAMILY,
        description="Payment customer DB: TLS only, connection logging",
        parameter=[
            RdsClusterParameterGroupParameter(name="rds.force_ssl", value="1"),
            RdsClusterParameterGroupParameter(name="log_connections", value="1"),
            RdsClusterParameterGroupParameter(name="log_disconnections", value="1"),
            RdsClusterParameterGroupParameter(name="log_statement", value="ddl"),
            RdsClusterParameterGroupParameter(name="log_min_duration_statement", value=str(SLOW_QUERY_MS)),
            RdsClusterParameterGroupParameter(name="log_parameter_max_length", value="0"),
        ],
    )


@dataclass(frozen=True)
class ClusterBase:
    subnets: DbSubnetGroup
    params: RdsClusterParameterGroup
    log_group: CloudwatchLogGroup


def cluster_base(scope: Construct, identifier: str, subnet_ids: Sequence[str], where: str,
                 settings: Settings, kms_key_arn: str) -> ClusterBase:
    """Subnet group and parameter group named ``identifier``, and the cluster's export log group:
    RDS creates that group on first write unless it exists; created here so retention and the KMS
    key are ours. ``where`` describes the subnets."""
    return ClusterBase(
        subnets=DbSubnetGroup(scope, "subnets", name=identifier, subnet_ids=list(subnet_ids), description=where),
        params=cluster_parameter_group(scope, "params", identifier),
        log_group=encrypted_log_group(scope, "postgresql-logs", f"/aws/rds/cluster/{identifier}/postgresql",
                                      settings, kms_key_arn))
