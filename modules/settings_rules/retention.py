"""Rules for how long backups, audit objects (S3 Object Lock) and logs are kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.settings_rules.errors import SettingsError

if TYPE_CHECKING:
    from modules.settings import Settings

# S3 Object Lock accepts a default retention of at most 100 years (36500 days).
MAX_OBJECT_LOCK_DAYS = 36_500
# AWS Backup lifecycle delete_after: at least one day, at most 100 years.
MAX_BACKUP_RETENTION_DAYS = 36_500
# Values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)
# What the checks below accept, in words: the settings reference (docs/maintainers/settings.md) prints it.
RULES = {
    "aurora_backup_retention_days": "must be 1..35 days",
    "audit_retention_days": f"1..{MAX_OBJECT_LOCK_DAYS} days (S3 Object Lock)",
    "backup_retention_days": f"1..{MAX_BACKUP_RETENTION_DAYS} days (AWS Backup)",
    "log_retention_days": "one of CloudWatch Logs' values: " + ", ".join(map(str, LOG_RETENTION_DAYS)),
}


def check_retention(s: Settings) -> None:
    """Retention periods within what AWS accepts."""
    if not 1 <= s.aurora_backup_retention_days <= 35:
        raise SettingsError("aurora_backup_retention_days", RULES["aurora_backup_retention_days"])
    if not 1 <= s.audit_retention_days <= MAX_OBJECT_LOCK_DAYS:
        raise SettingsError("audit_retention_days", f"{s.audit_retention_days} must be 1..{MAX_OBJECT_LOCK_DAYS} days")
    if not 1 <= s.backup_retention_days <= MAX_BACKUP_RETENTION_DAYS:
        raise SettingsError("backup_retention_days",
                            f"{s.backup_retention_days} must be 1..{MAX_BACKUP_RETENTION_DAYS} days")
    if s.log_retention_days not in LOG_RETENTION_DAYS:
        raise SettingsError("log_retention_days", f"{s.log_retention_days} is not one of {LOG_RETENTION_DAYS}")
