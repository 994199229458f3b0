"""The customer database's cluster parameters: TLS only, connection logging, and query logging that
never writes row values. One definition for the primary cluster (modules/data.py) and the global
database's secondary (modules/global_database.py), which must log and refuse plaintext the same way."""

from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.rds_cluster_parameter_group import (
    RdsClusterParameterGroup, RdsClusterParameterGroupParameter,
)

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
