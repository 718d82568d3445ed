"""Alembic environment: runs migrations over a synchronous psycopg connection."""

from alembic import context
from sqlalchemy import create_engine, pool

from db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")


def run() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            compare_type=True,
            # tables without a model (Chainlit's chat history, sort_demand) are managed by hand in their
            # migration; the sort indexes are built by db/sort_indexes.py, not by a migration
            include_object=lambda obj, name, type_, reflected, compare_to: not (
                type_ == "table" and reflected and compare_to is None
                or type_ == "index" and reflected and str(name or "").startswith("ix_sort_")
            ),
        )
        with context.begin_transaction():
            context.run_migrations()


run()
