"""A real OpenID Connect provider for the single sign-on tests: tests/oidc/provider.mjs (the
oidc-provider package, installed by `bash dev.sh test` with `npm ci`), set up like ProConnect, run
by Node on a free port of 127.0.0.1, and what a person does on its pages, done over HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import requests

from app.config import PROJECT_ROOT

OIDC_DIR = PROJECT_ROOT / "tests" / "oidc"
CLIENT_ID, CLIENT_SECRET = "maillage-test", "secret-de-test-du-client"
# login typed on the provider's page → the claims it gives (partner 1's referent and others)
PEOPLE = {
    "ref1": {"email": "Ref1@Example.org", "email_verified": True, "given_name": "Réf", "usual_name": "Un",
             "uid": "ref1", "siret": "13002526500013"},
    "inconnu": {"email": "personne@example.org", "email_verified": True, "given_name": "Per", "usual_name": "Sonne"},
    "non-verifie": {"email": "terr93@example.org", "email_verified": False},
    "sans-verification": {"email": "terr93@example.org"},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Provider:
    """oidc-provider in a Node process; `issuer` once it listens."""

    def __init__(self, tmp: Path, *app_urls: str):
        node = shutil.which("node")
        assert node, "Node.js manquant : `bash dev.sh test` l'installe (paquets nodejs et npm)"
        assert (OIDC_DIR / "node_modules" / "oidc-provider").is_dir(), \
            "oidc-provider manquant : `bash dev.sh test` l'installe (npm ci dans tests/oidc)"
        self.port = free_port()
        config = tmp / "oidc-provider.json"
        config.write_text(json.dumps({
            "port": self.port, "accounts": PEOPLE,
            "client": {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                       "redirect_uris": [f"{url}/connexion/proconnect/retour" for url in app_urls],
                       "post_logout_redirect_uris": [f"{url}/deconnexion/proconnect" for url in app_urls]}}))
        self.log = (tmp / "oidc-provider.log").open("w+")
        self.process = subprocess.Popen([node, str(OIDC_DIR / "provider.mjs"), str(config)], cwd=OIDC_DIR,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()  # "ISSUER http://127.0.0.1:PORT", or EOF if it died
        if not line.startswith("ISSUER "):
            self.stop()
            self.log.seek(0)
            raise RuntimeError(f"oidc-provider did not start: {line!r} {self.log.read()[-2000:]}")
        self.issuer = line.split()[1]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.1)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def settings(self, **extra) -> dict:
        return {"PROCONNECT_ISSUER": self.issuer, "PROCONNECT_CLIENT_ID": CLIENT_ID,
                "PROCONNECT_CLIENT_SECRET": CLIENT_SECRET, **extra}


class _Forms(HTMLParser):
    """The forms of a page: action and fields (hidden and filled ones)."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "id": attrs.get("id"), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


def forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def follow(browser: requests.Session, url: str, stop_at: str, data: dict | None = None) -> requests.Response:
    """Follows the provider's redirects (POSTing `data` to `url` first when given) until one leads
    to `stop_at` (the app) or a page answers; returns that last response."""
    response = browser.post(url, data=data, allow_redirects=False) if data is not None else \
        browser.get(url, allow_redirects=False)
    for _ in range(10):
        location = response.headers.get("Location")
        if response.status_code not in (302, 303) or not location:
            return response
        target = urljoin(response.url, location)
        if target.startswith(stop_at):
            return response
        response = browser.get(target, allow_redirects=False)
    raise AssertionError("too many redirects at the provider")


def sign_in_at_provider(browser: requests.Session, authorize_url: str, login: str, app_url: str) -> str:
    """What a person does at the provider: its login page, any password; returns the URL it sends
    the browser back to (on the app)."""
    page = follow(browser, authorize_url, app_url)
    if page.status_code == 200:  # the login page (no provider session yet)
        form = forms(page.text)[0]
        page = follow(browser, urljoin(page.url, form["action"]), app_url,
                      data={**form["fields"], "login": login, "password": "n'importe lequel"})
    location = urljoin(page.url, page.headers["Location"])
    assert location.startswith(app_url), (page.status_code, location, page.text[:500])
    return location


def sign_out_at_provider(browser: requests.Session, end_session_url: str, app_url: str) -> str:
    """The provider's logout page: "Yes, sign me out"; returns the URL back to the app."""
    page = follow(browser, end_session_url, app_url)
    assert page.status_code == 200, (page.status_code, page.text[:500])
    form = next(f for f in forms(page.text) if f["id"] == "op.logoutForm")
    page = follow(browser, urljoin(page.url, form["action"]), app_url, data={**form["fields"], "logout": "yes"})
    location = urljoin(page.url, page.headers["Location"])
    assert location.startswith(app_url), (page.status_code, location)
    return location
