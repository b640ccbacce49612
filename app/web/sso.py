"""Single sign-on through ProConnect: OpenID Connect's authorization code flow with PKCE, state and
nonce (Authlib's Flask client), on when MAILLAGE_PROCONNECT_ISSUER and _CLIENT_ID are set.

Only invited accounts sign in this way, matched by the verified e-mail the provider gives
(app.accounts.single_sign_on). The claims come from the ID token (signature, issuer, audience,
expiry and nonce checked) and from the userinfo endpoint, plain JSON or a signed JWT as ProConnect
sends it. Logging out of a session opened here also ends the provider's session (RP-initiated logout).
"""

from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from app import accounts
from app.web import state
from app.web.accounts import _safe_next, link, public, start_session, writing

bp = Blueprint("sso", __name__)
log = logging.getLogger("maillage.sso")
TITLE = "Connexion avec ProConnect"
PROVIDER_DOWN = ("ProConnect ne répond pas pour le moment. Réessayez dans quelques minutes, ou connectez-vous "
                 "avec votre mot de passe.")
FAILED = ("La connexion avec ProConnect n'a pas abouti (demande expirée, déjà utilisée ou réponse invalide). "
          "Recommencez depuis la page de connexion.")


def init(app, settings) -> None:
    """Registers the ProConnect client when it is configured (nothing is fetched before the first login)."""
    if not (settings.PROCONNECT_ISSUER and settings.PROCONNECT_CLIENT_ID):
        return
    oauth = OAuth(app)
    oauth.register(
        "proconnect", client_id=settings.PROCONNECT_CLIENT_ID, client_secret=settings.PROCONNECT_CLIENT_SECRET,
        server_metadata_url=settings.PROCONNECT_ISSUER.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.PROCONNECT_SCOPES, "code_challenge_method": "S256",
                       "token_endpoint_auth_method": "client_secret_post",
                       "default_timeout": settings.PROCONNECT_TIMEOUT_S})
    app.extensions["proconnect"] = oauth.proconnect


def enabled() -> bool:
    return "proconnect" in current_app.extensions


@bp.app_context_processor
def _sso_globals():
    return {"proconnect": enabled()}


def _client():
    if not enabled():
        abort(404)
    return current_app.extensions["proconnect"]


def _refused(message: str, status: int):
    return render_template("accounts/message.html", title=TITLE, message=message), status


@bp.post("/connexion/proconnect")
@public
def start():
    """The button of the login page: off to the provider with a fresh state, nonce and PKCE verifier
    (kept in the session until the provider sends the person back)."""
    client = _client()
    extra = {}
    if state().settings.PROCONNECT_ACR_VALUES:
        extra["acr_values"] = state().settings.PROCONNECT_ACR_VALUES
    after = _safe_next(request.form.get("next"))
    try:
        response = client.authorize_redirect(link("sso.callback"), **extra)
    except (requests.RequestException, ValueError, KeyError) as exc:  # discovery unreachable or unreadable
        log.warning("ProConnect discovery failed: %s", type(exc).__name__)
        return _refused(PROVIDER_DOWN, 503)
    session["sso_next"] = after
    return response


def _userinfo(client, token: dict, subject: str) -> dict:
    """The userinfo endpoint's claims, JSON or a JWT signed with the provider's keys (ProConnect)."""
    metadata = client.load_server_metadata()
    response = client.get(metadata["userinfo_endpoint"], token=token)
    response.raise_for_status()
    if response.headers.get("Content-Type", "").split(";")[0].strip() == "application/jwt":
        algorithms = metadata.get("userinfo_signing_alg_values_supported") or ["RS256", "ES256"]
        decoded = jwt.decode(response.text.strip(), KeySet.import_key_set(client.fetch_jwk_set()),
                             algorithms=algorithms)
        claims = dict(decoded.claims)
        audience = claims.get("aud")
        if (claims.get("iss") not in (None, metadata.get("issuer"))
                or (audience is not None and client.client_id not in ([audience] if isinstance(audience, str)
                                                                      else audience))):
            raise JoseError("userinfo issued for another client or by another issuer")
    else:
        claims = response.json()
    if claims.get("sub") != subject:  # OpenID Connect Core 5.3.2: the same person as the ID token
        raise JoseError("userinfo about another subject")
    return claims


@bp.get("/connexion/proconnect/retour")
def callback():
    """Where the provider sends the person back: the code exchanged (state, PKCE, nonce checked), the
    account found by its verified e-mail, the session opened. A GET, as OpenID Connect has it: it
    changes only the session and the account's last login time."""
    client = _client()
    if request.args.get("error"):
        session.pop("sso_next", None)
        return _refused("La connexion avec ProConnect a été annulée ou refusée. Vous pouvez recommencer, ou "
                        "vous connecter avec votre mot de passe.", 401)
    try:
        token = client.authorize_access_token()
        claims = dict(token.get("userinfo") or {})  # the ID token's, checked
        if not claims.get("sub"):
            raise JoseError("no ID token")
        claims.update(_userinfo(client, token, claims["sub"]))
    except requests.RequestException as exc:
        log.warning("ProConnect unreachable: %s", type(exc).__name__)
        return _refused(PROVIDER_DOWN, 503)
    except (AuthlibBaseError, JoseError, ValueError, KeyError) as exc:
        log.warning("ProConnect sign-in failed: %s", type(exc).__name__)
        return _refused(FAILED, 400)
    try:
        with writing() as db:
            account = accounts.single_sign_on(db, claims,
                                              emails_verified=state().settings.PROCONNECT_EMAILS_VERIFIED)
    except accounts.SignInRefused as exc:
        session.pop("sso_next", None)
        return _refused(exc.message, 403)
    after = session.get("sso_next") or url_for("accounts.dashboard")
    start_session(account)
    session["sso_id_token"] = token["id_token"]  # the logout's id_token_hint
    return redirect(after)


def logout_redirect(id_token: str):
    """After the local session ended: the provider's end-session endpoint, back to `logged_out`."""
    client = current_app.extensions.get("proconnect")
    if client is None:
        return None
    try:
        return client.logout_redirect(post_logout_redirect_uri=link("sso.logged_out"), id_token_hint=id_token)
    except (requests.RequestException, ValueError, KeyError, RuntimeError) as exc:
        log.warning("ProConnect logout failed: %s", type(exc).__name__)
        return render_template("accounts/message.html", title="Déconnexion",
                               message="Vous êtes déconnecté de Maillage. ProConnect ne répond pas : fermez votre "
                                       "navigateur pour terminer aussi votre session ProConnect.")


@bp.get("/deconnexion/proconnect")
def logged_out():
    """Where the provider sends the person back after its own logout."""
    client = _client()
    try:
        client.validate_logout_response()
    except AuthlibBaseError:  # not the answer to this browser's logout: Maillage's session is over all the same
        message = "Vous êtes déconnecté de Maillage."
    else:
        message = "Vous êtes déconnecté de Maillage et de ProConnect."
    return render_template("accounts/message.html", title="Déconnexion", message=message)
