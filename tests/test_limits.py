"""Per-client rate limits on the expensive endpoints (app/web/limits.py), never on lookups; in
memory by default and in Redis (under a prefix of its own) when configured."""

import uuid

import pytest

from tests.test_api import problem


@pytest.fixture
def limited(demo_url, tmp_path):
    from app.web import create_app, state

    app = create_app({"DATABASE_URL": demo_url, "JOBS_DIR": str(tmp_path / "jobs"), "RATE_LIMIT_HEAVY": "3/minute",
                      "RATE_LIMIT_BATCH_POINTS": "5/minute"})
    yield app
    state(app).jobs.shutdown()
    state(app).engine.dispose()


def test_heavy_pages_share_a_per_client_limit_and_lookups_have_none(limited):
    client = limited.test_client()
    for url in ("/carte?type=clsm&territoire=departement:93", "/carte/couverture.geojson?type=clsm&territoire=departement:93",
                "/ecarts?territoire=departement:93&types=clsm"):
        assert client.get(url).status_code == 200
    refused = client.get("/ecarts/export.csv?territoire=departement:93&types=clsm")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "patienter une minute" in refused.get_data(as_text=True)
    other = limited.test_client().get("/carte?type=clsm&territoire=departement:93",
                                      environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200  # another client has its own count
    assert client.get("/ecarts").status_code == 200  # the empty form costs nothing
    for _ in range(20):
        assert client.get("/api/v1/lookup?lon=2.48&lat=48.91").status_code == 200
        assert client.get("/couverture?lon=2.48&lat=48.91").status_code == 200


def test_the_batch_is_limited_in_points(limited):
    client = limited.test_client()
    assert client.post("/api/v1/lookup/batch", json={"points": [[2.48, 48.91]] * 4}).status_code == 200
    body = problem(client.post("/api/v1/lookup/batch", json={"points": [[2.48, 48.91]] * 2}), 429, "rate-limited")
    assert "au plus 5 par minute" in body["detail"]
    response = client.post("/api/v1/lookup/batch", json={"points": [[2.48, 48.91]]})
    assert response.status_code == 200 and int(response.headers.get("X-RateLimit-Limit", 0) or 0) >= 0


def test_limits_are_shared_through_redis_when_configured(demo_url, tmp_path):
    import redis

    from app.web import create_app, state
    from tests.test_jobs import REDIS_URL, _answers, _cleanup_redis

    if not _answers(REDIS_URL):
        pytest.fail(f"Redis absent on {REDIS_URL}")
    prefix = f"maillage-test-{uuid.uuid4().hex[:8]}:"
    settings = {"DATABASE_URL": demo_url, "JOBS_DIR": str(tmp_path / "jobs"), "RATE_LIMIT_HEAVY": "2/minute",
                "REDIS_URL": REDIS_URL, "REDIS_PREFIX": prefix}
    first, second = create_app(settings), create_app(settings)  # two server processes' worth
    try:
        url = "/carte/couverture.geojson?type=clsm&territoire=departement:93"
        assert first.test_client().get(url).status_code == 200
        assert second.test_client().get(url).status_code == 200
        assert first.test_client().get(url).status_code == 429
        assert list(redis.Redis.from_url(REDIS_URL).scan_iter(f"*{prefix}limits*"))  # under our prefix
    finally:
        _cleanup_redis(REDIS_URL, prefix)
        for app in (first, second):
            state(app).jobs.shutdown()
            state(app).engine.dispose()
