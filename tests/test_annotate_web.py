"""The page "Annoter un fichier": upload, preview with the columns recognised, background job with
its progress, download — then nothing left on the server; CSRF, ownership, bad files, expiry; on
both database backends."""

from __future__ import annotations

import io
import logging
import re
import time

import openpyxl
import pytest

from tests.test_annotate import TENANT, landlord_file
from tests.test_jobs import redis_url  # noqa: F401 — the machine's Redis, or one of our own

pytestmark = pytest.mark.db


@pytest.fixture
def web(geo_url, tmp_path):
    from app.web import create_app, state

    app = create_app({"DATABASE_URL": geo_url, "ANNOTATE_DIR": str(tmp_path / "uploads"),
                      "JOBS_DIR": str(tmp_path / "jobs"), "COOKIE_SECURE": False, "flask": {"TESTING": True}})
    yield app
    state(app).engine.dispose()


def _uploads(app):
    from app.annotate.uploads import Uploads
    from app.web import state

    return Uploads(state(app).settings.ANNOTATE_DIR)


def html_text(response) -> str:
    import html

    return html.unescape(response.get_data(as_text=True))


def _runner(app):
    from app.web import state

    return state(app).jobs


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _upload(client, path, **fields):
    page = client.get("/annoter").get_data(as_text=True)
    data = {"csrf_token": _csrf(page), "fichier": (io.BytesIO(path.read_bytes()), path.name), **fields}
    return client.post("/annoter", data=data, content_type="multipart/form-data")


def _token(html: str) -> str:
    return re.search(r"/annoter/([0-9a-f]{32})/lancer", html).group(1)


def _wait(client, token, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/annoter/{token}/etat").get_json()
        if body["finished"]:
            return body
        time.sleep(0.1)
    raise AssertionError(f"annotation still running: {body}")


def test_upload_preview_job_download_then_nothing_is_left(web, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    client = web.test_client()
    form = client.get("/annoter")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and "Annoter un fichier d'adresses" in html
    assert "supprimés dès le" in html and "jamais" in html and "journalisé" in html
    assert form.headers["Cache-Control"] == "no-store"
    preview = _upload(client, landlord_file(tmp_path / "stock.csv", 30), types=["clsm", "secteur_psy_adulte"])
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    token = _token(html)
    assert "Windows-1252" in html and "point-virgule" in html and "33 lignes de données" in html
    assert re.search(r'<option value="Voie" selected>', html) and re.search(r'<option value="Réf. logement" selected>', html)
    assert 'class="ignored">Nom du locataire' in html  # shown greyed, never used
    directory = _uploads(web).root / token
    assert directory.is_dir() and oct(directory.stat().st_mode & 0o777) == "0o700"
    fields = {"csrf_token": _csrf(html), "number": "N°", "street": "Voie", "postcode": "Code postal", "city": "Ville",
              "id": "Réf. logement", "groups": ["Agence"]}
    started = client.post(f"/annoter/{token}/lancer", data=fields)
    assert started.status_code == 303 and started.headers["Location"].endswith(f"/annoter/{token}")
    page = client.get(f"/annoter/{token}").get_data(as_text=True)
    assert "<progress" in page and "annotate.js" in page
    done = _wait(client, token)
    assert done["ready"] and done["percent"] == 100 and done["total"] == 33, done
    page = client.get(f"/annoter/{token}").get_data(as_text=True)
    assert "Télécharger le classeur" in page and "Terminé : 33 lignes annotées" in page
    download = client.post(f"/annoter/{token}/telecharger", data={"csrf_token": _csrf(page)})
    assert download.status_code == 200 and download.headers["Cache-Control"] == "no-store"
    assert re.match(r'attachment; filename="annotation-stock-\d{4}-\d\d-\d\d\.xlsx"', download.headers["Content-Disposition"])
    wb = openpyxl.load_workbook(io.BytesIO(download.data), read_only=True)
    assert wb.sheetnames == ["Synthèse", "Logements", "À vérifier"]
    header = next(wb["Logements"].iter_rows(values_only=True))
    assert "CLSM : structures" in header and "Secteur adulte : CMP du secteur" in header and "DAC : structures" not in header
    assert "Agence" in header and "Nom du locataire" not in header
    wb.close()
    assert TENANT.encode() not in download.data
    # nothing left: the upload, its state and the job's result are gone
    assert not directory.exists()
    assert client.post(f"/annoter/{token}/telecharger", data={"csrf_token": _csrf(page)}).status_code == 404
    assert client.get(f"/annoter/{token}").status_code == 404
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TENANT not in logged and "Voie" not in logged and "stock.csv" not in logged


def test_bad_files_csrf_ownership_and_deletion(web, tmp_path):
    client = web.test_client()
    before = set(_uploads(web).root.iterdir())
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"Adresse;Commune\n\x00\x01\x02")
    response = _upload(client, bad)
    assert response.status_code == 400 and "pas un fichier texte" in html_text(response)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    response = _upload(client, broken)
    assert response.status_code == 400 and "classeur illisible" in html_text(response)
    pdf = tmp_path / "plan.pdf"
    pdf.write_bytes(b"%PDF")
    assert _upload(client, pdf).status_code == 400
    assert set(_uploads(web).root.iterdir()) == before  # nothing kept of a refused file
    # no CSRF token: refused, nothing stored
    path = landlord_file(tmp_path / "stock.csv", 5)
    response = client.post("/annoter", data={"fichier": (io.BytesIO(path.read_bytes()), "stock.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and set(_uploads(web).root.iterdir()) == before
    html = _upload(client, path).get_data(as_text=True)
    token = _token(html)
    # no address column chosen: the preview again, with why
    response = client.post(f"/annoter/{token}/lancer", data={"csrf_token": _csrf(html), "id": "Réf. logement"})
    assert response.status_code == 400 and "Aucune colonne d'adresse" in html_text(response)
    # another browser cannot see, start or download it
    other = web.test_client()
    other_page = other.get("/annoter").get_data(as_text=True)
    assert other.get(f"/annoter/{token}").status_code == 404
    assert other.post(f"/annoter/{token}/lancer", data={"csrf_token": _csrf(other_page), "address": "Voie"}).status_code == 404
    assert other.get("/annoter/../../etc").status_code == 404
    # "Annuler et supprimer": gone at once
    response = client.post(f"/annoter/{token}/supprimer", data={"csrf_token": _csrf(html)})
    assert response.status_code == 303 and not (_uploads(web).root / token).exists()
    assert "ont été supprimés" in html_text(client.get(response.headers["Location"]))


def test_uploads_nobody_downloads_are_deleted_after_the_delay(web, tmp_path):
    from app.web import state

    client = web.test_client()
    html = _upload(client, landlord_file(tmp_path / "stock.csv", 5)).get_data(as_text=True)
    token = _token(html)
    client.post(f"/annoter/{token}/lancer", data={"csrf_token": _csrf(html), "address": "Voie", "city": "Ville"})
    _wait(client, token)
    job = _uploads(web).state(token)["job"]
    assert _runner(web).result(job) is not None
    retention = state(web).settings.ANNOTATE_RETENTION_S
    assert _uploads(web).sweep(retention, now=time.time() + retention + 1, on_delete=lambda s: _runner(web).delete(s["job"])) >= 1
    assert not (_uploads(web).root / token).exists() and _runner(web).result(job) is None
    assert client.get(f"/annoter/{token}").status_code == 404


def test_the_job_reports_its_progress_chunk_by_chunk(web, tmp_path):
    from app import jobs
    from app.annotate.task import annotate_upload
    from app.web import state

    uploads = _uploads(web)
    path = landlord_file(tmp_path / "stock.csv", 600)
    with path.open("rb") as fh:
        token, _ = uploads.save(fh, "stock.csv", max_bytes=10**7)
    seen = []
    ctx = jobs.Context("t", state(web).settings, tmp_path / "work", lambda done, total, step: seen.append((done, total)))
    out = annotate_upload(ctx, root=str(uploads.root), token=token,
                          columns={"number": "N°", "street": "Voie", "city": "Ville"})
    assert out.path.exists() and out.filename.startswith("annotation-stock-")
    assert seen[0] == (0, 603) and seen[-1] == (603, 603)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) >= 4  # 250 rows a step
    uploads.delete(token)


def test_the_annotation_runs_on_rq_workers_and_leaves_nothing_in_redis(geo_url, tmp_path, redis_url):
    """With MAILLAGE_REDIS_URL the page's job goes to a `maillage jobs worker` process through Redis;
    once downloaded, no key of the job is left."""
    import redis

    from app.web import create_app, state
    from tests.test_jobs import Runner

    runner = Runner("redis", tmp_path, redis_url, geo_url)
    app = create_app({"DATABASE_URL": geo_url, "ANNOTATE_DIR": str(tmp_path / "uploads"), "REDIS_URL": redis_url,
                      "REDIS_PREFIX": runner.prefix, "COOKIE_SECURE": False, "flask": {"TESTING": True}})
    try:
        runner.jobs()  # the worker is up
        assert state(app).jobs.backend == "redis"
        client = app.test_client()
        html = _upload(client, landlord_file(tmp_path / "stock.csv", 40), types=["clsm"]).get_data(as_text=True)
        token = _token(html)
        client.post(f"/annoter/{token}/lancer", data={"csrf_token": _csrf(html), "number": "N°", "street": "Voie",
                                                      "city": "Ville", "id": "Réf. logement"})
        done = _wait(client, token)
        assert done["ready"] and done["total"] == 43, done
        job = _uploads(app).state(token)["job"]
        store = redis.Redis.from_url(redis_url)
        assert any(job.encode() in key for key in store.scan_iter(f"{runner.prefix}*"))
        page = client.get(f"/annoter/{token}").get_data(as_text=True)
        download = client.post(f"/annoter/{token}/telecharger", data={"csrf_token": _csrf(page)})
        assert download.status_code == 200
        wb = openpyxl.load_workbook(io.BytesIO(download.data), read_only=True)
        assert "CLSM : structures" in next(wb["Logements"].iter_rows(values_only=True))
        wb.close()
        assert TENANT.encode() not in download.data
        assert not any(job.encode() in key for key in store.scan_iter(f"{runner.prefix}*"))
        assert not (_uploads(app).root / token).exists()
        store.close()
    finally:
        runner.close()
        state(app).engine.dispose()
