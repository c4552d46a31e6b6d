"""The tenant-scoped store: workflows, versions, executions, secrets and audit on SQLite or PostgreSQL."""
