"""The migration from the data centre (issue 15; docs/operators/migration.md): VPN, DMS replication,
weighted DNS for the cutover, and their alarms. Synthesized only when ``migration_enabled``.

``modules/stacks/payment_stack.py`` builds ``Migration`` behind that setting; nothing else imports it.
"""

from modules.migration.stack import Migration, MigrationProps

__all__ = ["Migration", "MigrationProps"]
