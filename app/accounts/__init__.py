"""Staff accounts: invitations, passwords (argon2id), single-use expiring tokens, login throttling,
deactivation and deletion (the audit keeps a pseudonym). No Flask here: the web (app/web/accounts.py)
and the CLI call these functions.

Personal data kept: name, e-mail, role and scope, the password's hash, the last login's time. Failed
logins are counted under a hash of the e-mail and of the client, for a quarter of an hour.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app import audit, territories
from app.errors import InvalidInput, MaillageError
from app.models import Account, AccountToken, AuditEntry, ErrorReport, LoginAttempt, Partner, Proposal, _now
from app.vocabulary import ROLE_LABELS, ROLES

EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
MIN_PASSWORD = 12
THROTTLE_WINDOW = dt.timedelta(minutes=15)
THROTTLE_MAX = 5  # failed logins per e-mail or per client within the window
_hasher = PasswordHasher()  # argon2id, argon2-cffi's RFC 9106 low-memory profile


class InvalidToken(InvalidInput):
    """A link already used, expired or unknown."""


class TooManyAttempts(MaillageError):
    """Too many failed logins: the caller answers 429."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(f"Le mot de passe doit compter au moins {MIN_PASSWORD} caractères.", field="password")


def normalise_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 200:
        raise InvalidInput(f"Adresse électronique invalide « {raw} ».", field="email")
    return email


def label(account: Account | None) -> str:
    return account.name if account is not None else "anonyme"


def _check_scope(session: Session, role: str, territory_codes, partner_ids) -> tuple[list[str], list[int]]:
    if role not in ROLES:
        raise InvalidInput(f"Rôle inconnu « {role} » (valeurs : {', '.join(ROLES)}).", field="role")
    codes = []
    for raw in territory_codes or []:
        typed = territories.parse_code(raw, field="territories")
        if not territories.existing(session, [typed]):
            raise InvalidInput(f"Territoire {typed} absent du référentiel chargé.", field="territories")
        codes.append(str(typed))
    ids = []
    for raw in partner_ids or []:
        partner = session.get(Partner, int(raw)) if str(raw).isdigit() else session.scalar(
            select(Partner).where(Partner.ref == str(raw)))
        if partner is None:
            raise InvalidInput(f"Partenaire inconnu « {raw} ».", field="partners")
        ids.append(partner.id)
    if role == "territoire" and not codes:
        raise InvalidInput("Un administrateur de territoire a au moins un territoire.", field="territories")
    if role == "referent" and not ids:
        raise InvalidInput("Un référent de structure a au moins un partenaire.", field="partners")
    return (codes if role == "territoire" else []), (ids if role == "referent" else [])


def create_account(session: Session, *, email: str, name: str, role: str, territory_codes=(), partner_ids=(),
                   actor: Account | None = None, actor_label: str | None = None) -> Account:
    """A new account without password (it is set through the invitation link)."""
    email = normalise_email(email)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("Nom requis (200 caractères au plus).", field="name")
    if session.scalar(select(Account.id).where(Account.email == email)) is not None:
        raise InvalidInput(f"Un compte existe déjà pour « {email} ».", field="email")
    codes, ids = _check_scope(session, role, territory_codes, partner_ids)
    account = Account(email=email, name=name, role=role, territories=codes, partners=ids, active=True,
                      session_epoch=0)
    session.add(account)
    session.flush()
    audit.record(session, actor=actor, actor_label=actor_label, action="account", target=f"compte {account.id}",
                 # never the name or the address: audit rows outlive the account
                 diff={"rôle": [None, ROLE_LABELS[role]],
                       "périmètre": [None, ", ".join(codes) or ", ".join(map(str, ids)) or "instance"]})
    return account


def issue_token(session: Session, account: Account, purpose: str, lifetime: dt.timedelta) -> str:
    """A new single-use link token; earlier unused tokens of the same purpose stop working."""
    session.execute(delete(AccountToken).where(AccountToken.account_id == account.id,
                                               AccountToken.purpose == purpose, AccountToken.used_at.is_(None)))
    raw = secrets.token_urlsafe(32)
    session.add(AccountToken(account_id=account.id, purpose=purpose, token_hash=_digest(raw),
                             expires_at=_now() + lifetime))
    session.flush()
    return raw


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def peek_token(session: Session, raw: str, purpose: str) -> Account:
    """The account a valid token opens (without using it); InvalidToken otherwise."""
    token = session.scalar(select(AccountToken).where(AccountToken.token_hash == _digest(raw or ""),
                                                      AccountToken.purpose == purpose))
    if token is None or token.used_at is not None:
        raise InvalidToken("Ce lien n'est pas ou plus valable (il ne sert qu'une fois). Demandez-en un nouveau.")
    if _aware(token.expires_at) <= _now():
        raise InvalidToken("Ce lien a expiré. Demandez-en un nouveau.")
    account = session.get(Account, token.account_id)
    if account is None or not account.active:
        raise InvalidToken("Ce lien n'est pas ou plus valable. Demandez-en un nouveau.")
    return account


def use_token(session: Session, raw: str, purpose: str, password: str) -> Account:
    """Set the password through an invitation or reset link, which then stops working."""
    account = peek_token(session, raw, purpose)
    check_password_strength(password)
    # single use even under two concurrent requests: only one UPDATE matches
    used = session.execute(update(AccountToken).where(AccountToken.token_hash == _digest(raw),
                                                      AccountToken.used_at.is_(None)).values(used_at=_now()))
    if used.rowcount != 1:
        raise InvalidToken("Ce lien n'est pas ou plus valable (il ne sert qu'une fois). Demandez-en un nouveau.")
    account.password_hash = hash_password(password)
    account.session_epoch = (account.session_epoch or 0) + 1
    audit.record(session, actor=account, action="account", target=f"compte {account.id}",
                 diff={"mot de passe": [None, "défini" if purpose == "invitation" else "réinitialisé"]})
    return account


def _attempt_keys(email: str, client: str) -> list[str]:
    return [_digest(f"email:{email}"), _digest(f"client:{client}")]


def authenticate(session: Session, email: str, password: str, *, client: str) -> Account | None:
    """The active account with this e-mail and password, or None; TooManyAttempts past THROTTLE_MAX
    failures for the e-mail or the client within THROTTLE_WINDOW (checked before the password)."""
    email = (email or "").strip().lower()
    keys = _attempt_keys(email, client)
    since = _now() - THROTTLE_WINDOW
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < since))
    failures = session.scalar(select(func.count()).select_from(LoginAttempt)
                              .where(LoginAttempt.key.in_(keys), LoginAttempt.at >= since)
                              .group_by(LoginAttempt.key).order_by(func.count().desc()).limit(1)) or 0
    if failures >= THROTTLE_MAX:
        raise TooManyAttempts("Trop de tentatives de connexion. Réessayez dans un quart d'heure.")
    account = session.scalar(select(Account).where(Account.email == email))
    ok = False
    if account is not None and account.active and account.password_hash:
        try:
            ok = _hasher.verify(account.password_hash, password or "")
        except (VerificationError, InvalidHashError):
            ok = False
    else:
        _hasher.hash(password or "")  # the same time whether or not the account exists
    if not ok:
        session.add_all([LoginAttempt(key=k) for k in keys])
        return None
    session.execute(delete(LoginAttempt).where(LoginAttempt.key == keys[0]))
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    account.last_login_at = _now()
    return account


class SignInRefused(MaillageError):
    """A single sign-on identity that opens no account here: the caller answers 403."""


def single_sign_on(session: Session, claims: dict, *, emails_verified: bool = False) -> Account:
    """The active account whose e-mail is the verified e-mail of an OpenID Connect identity
    (README "Connexion avec ProConnect"). Only invited accounts sign in this way: nothing is created.
    `emails_verified`: the provider vouches for every e-mail it gives, even without `email_verified`."""
    raw = claims.get("email")
    verified = claims.get("email_verified")
    if isinstance(verified, str):  # some providers send "true"
        verified = verified.strip().lower() == "true"
    if not raw:
        raise SignInRefused("ProConnect n'a pas transmis d'adresse électronique : la connexion est refusée.")
    if verified is False or (verified is None and not emails_verified):
        raise SignInRefused(f"ProConnect ne garantit pas l'adresse « {raw} » : la connexion est refusée. "
                            "Connectez-vous avec votre mot de passe.")
    try:
        email = normalise_email(str(raw))
    except InvalidInput as exc:
        raise SignInRefused(exc.message) from exc
    account = session.scalar(select(Account).where(Account.email == email))
    if account is None:
        raise SignInRefused(f"Aucun compte Maillage n'est ouvert pour l'adresse « {email} ». Les comptes sont "
                            "ouverts sur invitation : demandez-en une à l'administrateur de votre territoire.")
    if not account.active:
        raise SignInRefused("Ce compte Maillage est désactivé : adressez-vous à l'administrateur de votre territoire.")
    account.last_login_at = _now()
    return account


def find_active(session: Session, email: str) -> Account | None:
    try:
        email = normalise_email(email)
    except InvalidInput:
        return None
    return session.scalar(select(Account).where(Account.email == email, Account.active.is_(True)))


def set_active(session: Session, account: Account, active: bool, *, actor: Account | None = None,
               actor_label: str | None = None) -> None:
    if account.active == active:
        return
    account.active = active
    account.session_epoch = (account.session_epoch or 0) + 1  # its open sessions end
    audit.record(session, actor=actor, actor_label=actor_label, action="account", target=f"compte {account.id}",
                 diff={"actif": [not active, active]})


def pseudonym(account_id: int) -> str:
    return f"compte supprimé n° {account_id}"


def delete_account(session: Session, account: Account, *, actor: Account | None = None,
                   actor_label: str | None = None) -> None:
    """Delete an account: its personal data go, its audit rows and proposals keep a pseudonym."""
    alias = pseudonym(account.id)
    session.execute(update(AuditEntry).where(AuditEntry.account_id == account.id)
                    .values(actor=alias, account_id=None))
    session.execute(update(Proposal).where(Proposal.account_id == account.id).values(author=alias, account_id=None))
    session.execute(update(Proposal).where(Proposal.decided_by == account.name).values(decided_by=alias))
    session.execute(update(ErrorReport).where(ErrorReport.handled_by == account.name).values(handled_by=alias))
    target = f"compte {account.id}"
    session.delete(account)
    session.flush()
    audit.record(session, actor=actor, actor_label=actor_label, action="account", target=target,
                 diff={"compte": [alias, None]})


def accounts(session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.role, Account.name)))
