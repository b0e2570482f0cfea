"""Alembic migrations of the audit log (installed as ``pyramid_elasticjobs.migrations``)."""
