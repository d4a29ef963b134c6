"""Alembic environment: runs on the connection govcloud hands over, or on sqlalchemy.url."""

from alembic import context
from sqlalchemy import Connection

from govcloud.registry.db import make_engine
from govcloud.registry.tables import Base
from govcloud.settings import get_settings

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER constraints in place
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = config.get_main_option("sqlalchemy.url") or get_settings().registry_url()
    with make_engine(url).begin() as connection:
        _run(connection)
