"""Engine behaviour that requests rely on: pooled PostgreSQL connections survive a lost server
connection (a restart, a dropped idle connection) without an error reaching the user."""

import pytest
from sqlalchemy import create_engine, text

from app.dialects import postgis
from tests.conftest import BACKENDS, POSTGRES_ADMIN_URL, make_engine

pytestmark = pytest.mark.skipif("postgis" not in BACKENDS, reason="PostgreSQL only (pool of server connections)")


def _kill(pid: int) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


def test_an_idle_connection_lost_by_the_server_is_replaced(databases, monkeypatch):
    engine = make_engine(databases.new_url("postgis"))
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        _kill(first)  # the pooled connection is now dead
        monkeypatch.setattr(postgis, "PING_AFTER_IDLE_S", 0.0)  # it has been idle "long enough"
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(databases, monkeypatch):
    """No extra round trip per request: the ping happens only after PING_AFTER_IDLE_S."""
    engine = make_engine(databases.new_url("postgis"))
    pings = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda dbapi_conn: pings.append(dbapi_conn) or True)
    try:
        for _ in range(5):
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        assert pings == []
        monkeypatch.setattr(postgis, "PING_AFTER_IDLE_S", 0.0)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert len(pings) == 1
    finally:
        engine.dispose()
