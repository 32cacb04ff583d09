"""Engines, sessions and schema migration.

SQLite is the embedded default: it runs in WAL mode with a busy timeout so that a worker and the
command line can share one file, with foreign keys on. PostgreSQL is the production database.
Transactions are explicit: callers use ``with session.begin():`` (or :func:`transaction`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from newsletter.config import Settings
from newsletter.errors import ConfigError, InputError

HEAD_REVISION = "0011"


def make_engine(settings: Settings, *, echo: bool = False) -> Engine:
    """Create an engine for ``settings.database_url`` and check that it connects.

    Raises :class:`InputError` naming the URL (password hidden) and the reason when the
    database cannot be reached or, for SQLite, its folder cannot be created or written.
    """
    variable = "NEWSLETTER_DATABASE_URL"
    try:
        url = make_url(settings.database_url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(variable, f"unparsable database URL {settings.database_url!r}") from exc
    shown = url.render_as_string(hide_password=True)
    kwargs: dict[str, Any] = {"echo": echo}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            _ensure_writable_folder(Path(url.database).parent, shown)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
    try:
        engine = create_engine(url, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(variable, f"no driver for {shown}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise InputError(f"database {shown}: cannot connect: {reason}") from exc
    return engine


def _ensure_writable_folder(folder: Path, shown: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # One name per process: two workers starting at once on one SQLite file must not
        # remove each other's probe (the second unlink failed as "not writable").
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"database {shown}: folder {str(folder) or '.'} is not writable: {exc.strerror}"
        ) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take it over
    # (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL").
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits; NORMAL sync is durable in WAL mode
    # against process crashes (a sent mark survives a killed worker), which is what we need.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that reads and then writes can
    # never fail with SQLITE_BUSY on the upgrade, and busy_timeout makes writers queue. In WAL
    # mode readers are not blocked by it. This is the single-writer path of the embedded default.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back everything on any exception."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("newsletter") / "migrations"))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision`` (Alembic)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def require_schema(engine: Engine) -> None:
    """Fail clearly when the database was never migrated (instead of a 'no such table')."""
    if current_revision(engine) is None:
        raise InputError(
            f"database {engine.url.render_as_string(hide_password=True)}: no schema; "
            "run 'newsletter db upgrade' first"
        )
