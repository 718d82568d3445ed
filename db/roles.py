"""The two database roles of a deployment: the owner of the schema, which runs the migrations, and the login
role the app and the workers connect as, which owns nothing and is a member of `tablechat_app` (a person's
transactions, under row-level security) and `tablechat_system` (login and the workers); see
db/migrations/versions/0010_app_roles.py and docs/security.md."""

from __future__ import annotations

import logging

from sqlalchemy.engine import make_url

from core.services import APP_LOGIN  # the login role made on a local or embedded server

log = logging.getLogger(__name__)

GROUP_ROLES = ("tablechat_app", "tablechat_system")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def grant_app_roles(owner_url: str, app_url: str) -> None:
    """Let the role of `app_url` act as the app: make it (when it is ours to make) and grant it the group roles.

    Nothing to do when both URLs name the same role (a deployment that gives one URL only: the app then
    runs as the owner, which `check_app_role` reports)."""
    import psycopg
    from psycopg import sql

    owner, app = make_url(owner_url), make_url(app_url)
    if (owner.username or "") == (app.username or ""):
        return
    login = sql.Identifier(app.username or "")
    with psycopg.connect(_dsn(owner_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (app.username,)).fetchone()
        if not exists:
            if app.username != APP_LOGIN:
                raise RuntimeError(f"the database role {app.username!r} of DATABASE_URL does not exist: "
                                   "create it (LOGIN, no superuser), then migrate again")
            try:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS")
                             .format(login))
            except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                pass  # created meanwhile by another process on this server
        # imports and bulk writes stage rows in temporary tables (COPY cannot go into a table under row-level
        # security); PUBLIC may use them by default, unless the server's administrator revoked that
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(owner.database or "postgres"), login))
        for group in GROUP_ROLES:
            member = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (app.username, group)).fetchone()
            if member and member[0]:
                continue
            try:
                conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), login))
            except psycopg.errors.InternalError:
                pass  # "tuple concurrently updated": the same grant by another process on this server


async def check_app_role(conn) -> list[str]:
    """What is wrong with the role this connection runs as, for the app (empty when nothing is)."""
    from sqlalchemy import text

    row = (await conn.execute(text(
        "SELECT r.rolsuper, r.rolbypassrls, "
        "  EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "          WHERE n.nspname = 'public' AND c.relowner = r.oid) AS owns, "
        "  pg_has_role(current_user, 'tablechat_app', 'MEMBER') AS app "
        "FROM pg_roles r WHERE r.rolname = current_user"))).mappings().one()
    problems = []
    if row["rolsuper"]:
        problems.append("is a superuser")
    if row["rolbypassrls"]:
        problems.append("bypasses row-level security")
    if row["owns"]:
        problems.append("owns the tables")
    if not row["app"]:
        problems.append("is not a member of tablechat_app")
    return problems
