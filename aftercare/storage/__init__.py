"""Storage: SQLAlchemy 2 on an SQLite file (embedded default) or PostgreSQL (production)."""
