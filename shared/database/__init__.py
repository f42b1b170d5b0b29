"""PostgreSQL, the system of record: the connection pool, and the schema's migrations.

``python -m shared.database migrate`` brings the schema to the newest revision; the
services do not migrate by themselves (docs/architecture.md says which store owns what).
"""
