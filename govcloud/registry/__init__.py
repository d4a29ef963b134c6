"""The registry: state that changes at run time, in SQLAlchemy over SQLite or PostgreSQL."""
