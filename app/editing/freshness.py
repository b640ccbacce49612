"""Freshness: a partner's last verified date against its kind's threshold (geodata/kind_freshness.csv,
in months; a kind not listed: DEFAULT_MONTHS), "vérifié il y a 14 mois" as people read it, the
records to check per territory or referent, and the reminders `maillage reminders send` e-mails."""

from __future__ import annotations

import csv
import datetime as dt
from functools import lru_cache

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT
from app.models import Account, Partner

CATALOGUE = PROJECT_ROOT / "geodata" / "kind_freshness.csv"
DEFAULT_MONTHS = 12


@lru_cache(maxsize=1)
def thresholds() -> dict[str, int]:
    with CATALOGUE.open(encoding="utf-8", newline="") as f:
        return {row["kind"]: int(row["stale_after_months"]) for row in csv.DictReader(f)}


def months_between(earlier: dt.date, later: dt.date) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (1 if later.day < earlier.day else 0)


def _as_date(value) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def freshness(last_verified, kind: str, today: dt.date | None = None) -> dict:
    """{text: "vérifié il y a 14 mois", stale: bool, date: date | None} for a partner."""
    today = today or dt.date.today()
    verified = _as_date(last_verified)
    if verified is None:
        return {"text": "jamais vérifié", "stale": True, "date": None}
    months = months_between(verified, today)
    days = (today - verified).days
    if days <= 0:
        text = "vérifié aujourd'hui"
    elif months < 1:
        text = f"vérifié il y a {days} jour{'s' if days > 1 else ''}"
    elif months < 24:
        text = f"vérifié il y a {months} mois"
    else:
        text = f"vérifié il y a {months // 12} ans"
    return {"text": text, "stale": months >= thresholds().get(kind, DEFAULT_MONTHS), "date": verified}


def stale_cutoff(kind: str, today: dt.date) -> dt.date:
    """The date before which a partner of this kind counts as stale."""
    import calendar

    year, month = divmod(today.year * 12 + today.month - 1 - thresholds().get(kind, DEFAULT_MONTHS), 12)
    return dt.date(year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1]))


def stale_clause(today: dt.date, kinds: list[str]):
    """SQL: the partner was never verified or not since its kind's threshold."""
    return or_(Partner.last_verified_at.is_(None),
               *[(Partner.kind_code == k) & (Partner.last_verified_at <= stale_cutoff(k, today)) for k in kinds])


def stale_partners(session: Session, *, partner_ids=None, territory_codes=None, today: dt.date | None = None) -> list[Partner]:
    """Partners in service or planned that are stale, among some ids or meeting some territories."""
    from app.accounts import roles
    from app.partners import kinds as kinds_module

    today = today or dt.date.today()
    kinds = [k.code for k in kinds_module.all_kinds(session)]
    query = select(Partner).where(Partner.status != "closed", stale_clause(today, kinds)).order_by(Partner.name)
    if partner_ids is not None:
        query = query.where(Partner.id.in_(list(partner_ids) or [-1]))
    partners = [p for p in session.scalars(query)
                if freshness(p.last_verified_at, p.kind_code, today)["stale"]]
    if territory_codes is not None:
        cache: dict = {}
        partners = [p for p in partners
                    if roles.territories_met(session, [roles.partner_shape(p)], territory_codes, cache)]
    return partners


def reminders(session: Session, today: dt.date | None = None) -> list[tuple[Account, str, str]]:
    """(account, subject, body) for each active referent with stale partners and each territory
    administrator with a queue or stale records; nothing for an account with nothing to do."""
    from app import editing

    out = []
    for account in session.scalars(select(Account).where(Account.active.is_(True), Account.role != "admin")
                                   .order_by(Account.id)):
        if account.role == "referent":
            stale = stale_partners(session, partner_ids=account.partners or [], today=today)
            queue = {"proposals": [], "reports": editing.queue(session, account)["reports"]}
        else:
            stale = stale_partners(session, territory_codes=account.territories or [], today=today)
            queue = editing.queue(session, account)
        if not stale and not queue["proposals"] and not queue["reports"]:
            continue
        lines = [f"Bonjour {account.name},", ""]
        if stale:
            lines.append(f"{len(stale)} fiche{'s' if len(stale) > 1 else ''} à vérifier :")
            lines += [f"- {p.name} ({freshness(p.last_verified_at, p.kind_code, today)['text']})" for p in stale]
            lines.append("")
        if queue["proposals"]:
            n = len(queue["proposals"])
            lines.append(f"{n} proposition{'s' if n > 1 else ''} de modification en attente de votre décision.")
        if queue["reports"]:
            n = len(queue["reports"])
            lines.append(f"{n} signalement{'s' if n > 1 else ''} d'erreur ouvert{'s' if n > 1 else ''}.")
        lines += ["", "Connectez-vous à Maillage pour les traiter (« Mon espace »)."]
        out.append((account, "Maillage : fiches à vérifier et demandes en attente", "\n".join(lines) + "\n"))
    return out
