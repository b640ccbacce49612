"""A looked-up point is never stored or logged."""

import logging
import threading

import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.models import Base
from app.web import create_app
from tests.points import BONDY_NORD


def row_counts(engine):
    with engine.connect() as conn:
        return {t: conn.execute(select(func.count()).select_from(Base.metadata.tables[t])).scalar()
                for t in Base.metadata.tables}


def test_lookups_write_nothing_to_the_database(client, demo_app):
    engine = demo_app.extensions["maillage"].engine
    before = row_counts(engine)
    for lon, lat in [BONDY_NORD, (2.3650, 48.8270), (4.8, 45.7)]:
        assert client.get(f"/api/v1/lookup?lon={lon}&lat={lat}").status_code == 200
    assert client.post("/api/v1/lookup/batch", json={"points": [list(BONDY_NORD)]}).status_code == 200
    assert row_counts(engine) == before


def test_request_logs_never_show_the_point(demo_url, caplog):
    """The development server logs every request line: the filter redacts lon/lat."""
    app = create_app({"DATABASE_URL": demo_url})
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.DEBUG):
            r = requests.get(f"http://127.0.0.1:{server.port}/api/v1/lookup?lon=2.48501&lat=48.91003", timeout=30)
            assert r.status_code == 200
            r = requests.get(f"http://127.0.0.1:{server.port}/api/v1/lookup?lon=2.48501&lat=abc", timeout=30)
            assert r.status_code == 400
    finally:
        server.shutdown()
        app.extensions["maillage"].engine.dispose()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/api/v1/lookup?lon=***&lat=***" in logged  # the request was logged, redacted
    assert "2.48501" not in logged and "48.91003" not in logged


def test_an_unexpected_error_logs_the_route_not_the_query(demo_app, caplog, monkeypatch):
    import app.web.api.routes as routes

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(routes, "lookup", boom)
    with caplog.at_level(logging.ERROR):
        r = demo_app.test_client().get("/api/v1/lookup?lon=2.48502&lat=48.91004")
    assert r.status_code == 500 and r.get_json()["code"] == "internal-error"
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "/api/v1/lookup" in logged and "48.91004" not in logged
