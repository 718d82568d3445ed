"""Run Alembic migrations programmatically (used by `tablechat migrate`, `make run` and the tests)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent


def sync_url(url: str) -> str:
    """The same database through psycopg (Alembic runs synchronously)."""
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", *, app_url: str | None = None) -> None:
    """Bring the database at `url` (the owner's URL) to `revision`; with `app_url`, also let the role the
    app connects as act as the app (db/roles.py)."""
    command.upgrade(alembic_config(url), revision)
    if app_url:
        from db.roles import grant_app_roles

        grant_app_roles(url, app_url)
