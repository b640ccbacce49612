"""Staff accounts on the web: login, logout, invitation and reset links, the accounts page
(invite, deactivate, delete). The session holds the account id, its epoch and the login time;
a session past MAILLAGE_SESSION_HOURS, or issued before a password change or a deactivation,
is refused. Every form carries a CSRF token (Flask-WTF's CSRFProtect, installed by create_app)."""

from __future__ import annotations

import datetime as dt
import functools
import time
from contextlib import contextmanager

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from app import accounts
from app.accounts import mail
from app.errors import MaillageError
from app.models import Account
from app.vocabulary import ROLE_LABELS
from app.web import get_session, state

bp = Blueprint("accounts", __name__)


# --------------------------------------------------------------------------------------------- plumbing


@contextmanager
def writing():
    """A read-write session, one transaction, committed at the end of the block."""
    with state().sessions() as db, db.begin():
        yield db


def current_account() -> Account | None:
    return g.get("account")


@bp.before_app_request
def _load_account():
    g.account = None
    account_id = session.get("account_id")
    if account_id is None:
        return
    started = session.get("started", 0)
    if time.time() - started > state().settings.SESSION_HOURS * 3600:
        session.clear()
        return
    account = get_session().get(Account, account_id)
    if account is None or not account.active or account.session_epoch != session.get("epoch"):
        session.clear()
        return
    g.account = account


@bp.app_context_processor
def _account_globals():
    return {"account": g.get("account"), "role_labels": ROLE_LABELS}


def public(view):
    """Marks a write route open without an account (login, links, error reports): the authorisation
    matrix test (tests/test_authorisation.py) reads this mark."""
    view.public_write = True
    return view


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_account() is None:
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def start_session(account: Account) -> None:
    session.clear()
    session.permanent = True
    session.update(account_id=account.id, epoch=account.session_epoch, started=time.time())


def _client() -> str:
    return request.remote_addr or "?"


def _safe_next(raw: str | None) -> str:
    raw = raw or ""
    # a path on this site only: never "//host" or "/\\host", which browsers read as another site
    return raw if raw.startswith("/") and not raw.startswith(("//", "/\\")) else url_for("accounts.dashboard")


def link(endpoint: str, **values) -> str:
    base = state().settings.PUBLIC_URL.rstrip("/")
    return (base + url_for(endpoint, **values)) if base else url_for(endpoint, _external=True, **values)


# --------------------------------------------------------------------------------------------- login


@bp.route("/connexion", methods=["GET", "POST"])
@public
def login():
    error, status = None, 200
    if request.method == "POST":
        try:
            with writing() as db:
                account = accounts.authenticate(db, request.form.get("email", ""), request.form.get("password", ""),
                                                client=_client())
        except accounts.TooManyAttempts as exc:
            return render_template("accounts/login.html", error=exc.message, next=request.form.get("next")), 429
        if account is None:
            error, status = "Adresse ou mot de passe incorrect.", 401
        else:
            start_session(account)
            return redirect(_safe_next(request.form.get("next")))
    return render_template("accounts/login.html", error=error, next=request.values.get("next", "")), status


@bp.post("/deconnexion")
@public
def logout():
    from app.web import sso

    id_token = session.get("sso_id_token")
    session.clear()
    if id_token:  # a session opened through ProConnect: its own session ends too
        response = sso.logout_redirect(id_token)
        if response is not None:
            return response
    flash("Vous êtes déconnecté.")
    return redirect(url_for("web.home"))


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
@public
def forgot():
    if request.method == "POST":
        settings = state().settings
        with writing() as db:
            account = accounts.find_active(db, request.form.get("email", ""))
            if account is not None:
                token = accounts.issue_token(db, account, "reset", dt.timedelta(hours=settings.RESET_HOURS))
                try:
                    mail.send(settings, account.email, *mail.reset(settings, link("accounts.reset", token=token)))
                except (mail.MailNotConfigured, OSError):
                    pass  # the answer must not say whether the address has an account
        return render_template("accounts/message.html", title="Mot de passe oublié",
                               message="Si un compte existe pour cette adresse, un lien de réinitialisation vient "
                                       "d'y être envoyé. Il est valable quelques heures et ne sert qu'une fois.")
    return render_template("accounts/forgot.html")


def _password_form(purpose: str, token: str, title: str):
    error, status = None, 200
    try:
        account = accounts.peek_token(get_session(), token, purpose)
    except accounts.InvalidToken as exc:
        return render_template("accounts/message.html", title=title, message=exc.message), 410
    if request.method == "POST":
        if request.form.get("password") != request.form.get("confirm"):
            error, status = "Les deux mots de passe diffèrent.", 400
        else:
            try:
                with writing() as db:
                    account = accounts.use_token(db, token, purpose, request.form.get("password", ""))
            except MaillageError as exc:
                error, status = exc.message, 400
            else:
                start_session(account)
                flash("Mot de passe enregistré : vous êtes connecté.")
                return redirect(url_for("accounts.dashboard"))
    return render_template("accounts/password.html", title=title, account=account, error=error), status


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@public
def invitation(token: str):
    return _password_form("invitation", token, "Choisir votre mot de passe")


@bp.route("/reinitialisation/<token>", methods=["GET", "POST"])
@public
def reset(token: str):
    return _password_form("reset", token, "Nouveau mot de passe")


# --------------------------------------------------------------------------------------------- accounts page


def may_manage(actor: Account, target: Account | None = None, role: str | None = None) -> bool:
    """An administrator manages every account; a territory administrator invites and manages
    referents of partners in their territories."""
    from app.accounts import roles
    from app.models import Partner

    if actor.role == "admin":
        return True
    if actor.role != "territoire":
        return False
    if target is not None:
        role, partner_ids = target.role, target.partners or []
    else:
        partner_ids = [int(p) for p in form_partner_ids() if p.isdigit()]
    if role != "referent" or not partner_ids:
        return False
    db = get_session()
    return all((p := db.get(Partner, pid)) is not None and roles.administers_partner(db, actor, p)
               for pid in partner_ids)


@bp.get("/espace")
@login_required
def dashboard():
    from app import editing

    return render_template("accounts/dashboard.html", queue=editing.queue(get_session(), current_account()))


@bp.get("/comptes")
@login_required
def account_list():
    actor = current_account()
    if actor.role == "referent":
        abort(403)
    listed = [a for a in accounts.accounts(get_session()) if actor.role == "admin" or a.id == actor.id
              or may_manage(actor, a)]
    return render_template("accounts/list.html", listed=listed, roles=ROLE_LABELS)


@bp.post("/comptes/inviter")
@login_required
def invite():
    actor = current_account()
    role = request.form.get("role", "")
    if not may_manage(actor, role=role):
        abort(403)
    settings = state().settings
    try:
        with writing() as db:
            account = accounts.create_account(
                db, email=request.form.get("email", ""), name=request.form.get("name", ""), role=role,
                territory_codes=_territory_codes(db, request.form.get("territories", "")),
                partner_ids=form_partner_ids(), actor=db.get(Account, actor.id))
            token = accounts.issue_token(db, account, "invitation", dt.timedelta(days=settings.INVITATION_DAYS))
            url = link("accounts.invitation", token=token)
            mail.send(settings, account.email, *mail.invitation(settings, account.name, url))
    except mail.MailNotConfigured as exc:
        flash(f"Invitation non envoyée : {exc}")
        return redirect(url_for("accounts.account_list")), 303
    except MaillageError as exc:
        flash(exc.message)
        return redirect(url_for("accounts.account_list")), 303
    flash(f"Invitation envoyée à {request.form.get('email', '').strip()}.")
    return redirect(url_for("accounts.account_list")), 303


def form_partner_ids() -> list[str]:
    """Partner numbers of the invitation form: repeated fields or one field "12, 14"."""
    return [p.strip() for value in request.form.getlist("partners") for p in value.split(",") if p.strip()]


def _territory_codes(db, raw: str) -> list[str]:
    """Territories by name or code, one per line or comma ("Seine-Saint-Denis", "epci:200054781")."""
    from app import territory_search

    parts = [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]
    return [territory_search.resolve(db, p, field="territories").code for p in parts]


def _managed(account_id: int) -> Account:
    target = get_session().get(Account, account_id)
    if target is None:
        abort(404)
    if not may_manage(current_account(), target) or target.id == current_account().id:
        abort(403)
    return target


@bp.post("/comptes/<int:account_id>/desactiver")
@login_required
def deactivate(account_id: int):
    _managed(account_id)
    active = request.form.get("active") == "1"
    with writing() as db:
        accounts.set_active(db, db.get(Account, account_id), active, actor=db.get(Account, current_account().id))
    flash("Compte réactivé." if active else "Compte désactivé : ses sessions sont fermées.")
    return redirect(url_for("accounts.account_list")), 303


@bp.post("/comptes/<int:account_id>/supprimer")
@login_required
def delete(account_id: int):
    _managed(account_id)
    with writing() as db:
        accounts.delete_account(db, db.get(Account, account_id), actor=db.get(Account, current_account().id))
    flash("Compte supprimé ; son historique reste sous un pseudonyme.")
    return redirect(url_for("accounts.account_list")), 303
