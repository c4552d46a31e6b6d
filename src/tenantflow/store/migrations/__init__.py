"""Alembic migrations for the store; ``tenantflow migrate`` runs them (see ``tenantflow.store.migrate``)."""
