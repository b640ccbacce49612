"""Editing partners in the browser: changes applied or proposed, proposals decided, reverts,
verifications ("Je confirme que ces informations sont à jour") and error reports. Every function
here writes its audit row (app/audit/). No Flask: app/web/editing.py parses the forms and calls these.

A referent's change to coverage, kind, status or dates is a proposal that an administrator of a
territory it touches decides; their other changes (contacts, "comment saisir"…) apply at once,
unless MAILLAGE_MODERATE_ALL is set. Administrators' changes apply at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.accounts import roles
from app.errors import InvalidInput
from app.models import Account, AuditEntry, ErrorReport, Partner, Proposal, _now
from app.partners import cards, registry

# Record fields a referent only proposes (coverage parts: the three coverage.* diff fields).
PROPOSED_FIELDS = ("kind", "status", "valid_from", "valid_to", "coverage")
REPORT_STATES = ("ouvert", "traité", "rejeté")
MAX_REPORT = 2000


def _record_key(diff_field: str) -> str:
    return diff_field.split(".", 1)[0]


@dataclass
class Outcome:
    applied: AuditEntry | None = None
    proposal: Proposal | None = None


def write(session: Session, partner: Partner, record: dict, *, actor: Account | None, action: str,
          reason: str = "", actor_label: str | None = None) -> AuditEntry | None:
    """Write a whole record onto a partner (its ref and provenance kept) and audit the change;
    None when nothing changed. Raises InvalidRecord listing every problem, nothing written."""
    before = cards.record_of(partner)
    record = {**record, "ref": partner.ref}
    imported_at = partner.imported_at
    registry.upsert_partner(session, record, source=partner.source, source_file=partner.source_file,
                            source_row=partner.source_row, source_hash=partner.source_hash, stored=partner,
                            audited=False)
    partner.imported_at = imported_at  # an edit is not an import
    after = cards.record_of(partner)
    changes = audit.diff(before, after)
    if not changes:
        return None
    return audit.record(session, action=action, actor=actor, actor_label=actor_label, partner=partner,
                        diff=changes, snapshot=after, reason=reason)


def routed_territories(session: Session, shapes) -> list[str]:
    """The territories of active territory administrators that these shapes meet."""
    codes = sorted({code for account in session.scalars(select(Account).where(
        Account.role == "territoire", Account.active.is_(True))) for code in account.territories or []})
    return roles.territories_met(session, shapes, codes)


def change(session: Session, partner: Partner, record: dict, *, actor: Account, moderate_all: bool = False,
           reason: str = "") -> Outcome:
    """An account's change to a partner: applied at once, or (a referent's moderated fields) a proposal."""
    if not roles.may_edit(session, actor, partner):
        raise PermissionError("not allowed")
    # validate the whole record first: a refused form changes nothing, not even half of it
    clean, errors = registry.normalise(session, {**record, "ref": partner.ref})
    if errors:
        raise registry.InvalidRecord(partner.ref, errors.errors)
    current = cards.record_of(partner)
    if actor.role != "referent":
        return Outcome(applied=write(session, partner, record, actor=actor, action="edit", reason=reason))
    wanted = audit.diff(current, {**record, "ref": partner.ref})
    moderated = {k for k in wanted if moderate_all or _record_key(k) in PROPOSED_FIELDS}
    immediate = {**current}
    for key in {_record_key(k) for k in wanted} - {_record_key(k) for k in moderated}:
        immediate[key] = record.get(key)
    outcome = Outcome()
    if immediate != current:
        outcome.applied = write(session, partner, immediate, actor=actor, action="edit", reason=reason)
    if moderated:
        outcome.proposal = propose(session, partner, record, actor=actor, reason=reason)
    return outcome


def propose(session: Session, partner: Partner, record: dict, *, actor: Account, reason: str = "") -> Proposal | None:
    from app.editing.preview import record_shape

    current = cards.record_of(partner)
    proposed = {**current}
    for key in {_record_key(k) for k in audit.diff(current, {**record, "ref": partner.ref})}:
        proposed[key] = record.get(key)
    changes = audit.diff(current, proposed)
    if not changes:
        return None
    shapes = [roles.partner_shape(partner), record_shape(session, proposed)]
    proposal = Proposal(partner_id=partner.id, account_id=actor.id, author=actor.name, record=proposed,
                        diff=changes, territories=routed_territories(session, shapes), state="ouverte",
                        reason=reason or "")
    session.add(proposal)
    session.flush()
    audit.record(session, action="proposal", actor=actor, partner=partner, target=f"proposition {proposal.id}",
                 diff=changes, reason=reason)
    return proposal


def may_decide(session: Session, account: Account | None, proposal: Proposal, cache: dict | None = None) -> bool:
    """An administrator, or a territory administrator one of whose territories the partner's area or
    the proposed one meets — as they are now, so an administrator added after the proposal was made
    sees it too (`proposal.territories` keeps whom it went to at first)."""
    if account is None or not account.active or account.role not in ("admin", "territoire"):
        return False
    if account.role == "admin":
        return True
    from app.editing.preview import record_shape

    cache = {} if cache is None else cache
    partner = session.get(Partner, proposal.partner_id)
    shapes = [roles.partner_shape(partner) if partner is not None else None,
              record_shape(session, proposal.record or {}, cache)]
    return bool(roles.territories_met(session, shapes, account.territories or [], cache))


def decide(session: Session, proposal: Proposal, *, actor: Account, accept: bool, reason: str) -> None:
    """Validate (the proposed fields are written over the partner as it is now) or reject, with a reason."""
    if not may_decide(session, actor, proposal):
        raise PermissionError("not allowed")
    if proposal.state != "ouverte":
        raise InvalidInput("Cette proposition a déjà été traitée.")
    reason = (reason or "").strip()
    if not accept and not reason:
        raise InvalidInput("Indiquez la raison du refus.", field="reason")
    partner = session.get(Partner, proposal.partner_id)
    proposal.state = "validée" if accept else "rejetée"
    proposal.decided_by, proposal.decided_at, proposal.reason = actor.name, _now(), reason
    if accept:
        record = cards.record_of(partner)
        for key in {_record_key(k) for k in proposal.diff}:
            record[key] = proposal.record.get(key)
        entry = write(session, partner, record, actor=actor, action="validation",
                      reason=reason or f"proposition n° {proposal.id} validée")
        if entry is not None:
            entry.target = f"proposition {proposal.id}"
            return
    # a rejection, or a validation that changes nothing (the partner already reads so): still on record
    audit.record(session, action="validation" if accept else "rejection", actor=actor, partner=partner,
                 target=f"proposition {proposal.id}", diff={"proposition": ["ouverte", proposal.state]}, reason=reason)


def revert(session: Session, partner: Partner, entry: AuditEntry, *, actor: Account) -> AuditEntry | None:
    """Restore the partner's record as it was after `entry` (itself audited)."""
    if not roles.may_edit(session, actor, partner) or actor.role == "referent":
        raise PermissionError("not allowed")
    if entry.partner_id != partner.id or not entry.snapshot:
        raise InvalidInput("Cette version ne peut pas être restaurée (aucun état enregistré).")
    when = entry.at.strftime("%d/%m/%Y %H:%M")
    return write(session, partner, entry.snapshot, actor=actor, action="revert",
                 reason=f"retour à la version du {when} (modification n° {entry.id})")


def verify(session: Session, partner: Partner, *, actor: Account, today: dt.date | None = None) -> AuditEntry:
    """"Je confirme que ces informations sont à jour": the last verified date becomes today."""
    if not roles.may_edit(session, actor, partner):
        raise PermissionError("not allowed")
    today = today or dt.date.today()
    before = partner.last_verified_at
    partner.last_verified_at = today
    session.flush()
    return audit.record(session, action="verification", actor=actor, partner=partner,
                        diff={"last_verified_at": [before.isoformat() if before else None, today.isoformat()]},
                        snapshot=cards.record_of(partner))


def report_error(session: Session, partner: Partner, text: str) -> ErrorReport:
    """A stored report about a structure, routed to its referents and the territories it meets."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Décrivez ce qui est inexact.", field="text")
    if len(text) > MAX_REPORT:
        raise InvalidInput(f"Le signalement dépasse {MAX_REPORT} caractères.", field="text")
    report = ErrorReport(partner_id=partner.id, text=text, state="ouvert",
                         territories=routed_territories(session, [roles.partner_shape(partner)]))
    session.add(report)
    session.flush()
    audit.record(session, action="report", actor_label="signalement anonyme", partner=partner,
                 target=f"signalement {report.id}", diff={"signalement": [None, "ouvert"]})
    return report


def may_handle(session: Session, account: Account | None, report: ErrorReport, cache: dict | None = None) -> bool:
    """The partner's referents, an administrator, or an administrator of a territory the partner meets
    now (like proposals: routed when the queue is read, not only when the report was made)."""
    if account is None or not account.active:
        return False
    if account.role == "referent":
        return report.partner_id in (account.partners or [])
    if account.role == "admin":
        return True
    partner = session.get(Partner, report.partner_id)
    return partner is not None and roles.administers_partner(session, account, partner, cache)


def handle_report(session: Session, report: ErrorReport, *, actor: Account, state: str, answer: str = "") -> None:
    if not may_handle(session, actor, report):
        raise PermissionError("not allowed")
    if state not in REPORT_STATES:
        raise InvalidInput(f"État inconnu « {state} ».", field="state")
    before = report.state
    report.state, report.handled_by, report.handled_at, report.answer = state, actor.name, _now(), (answer or "").strip()
    audit.record(session, action="report", actor=actor, partner=session.get(Partner, report.partner_id),
                 target=f"signalement {report.id}", diff={"signalement": [before, state]}, reason=report.answer)


def queue(session: Session, account: Account) -> dict:
    """What waits for an account: open proposals and reports it may decide; a referent's own proposals."""
    cache: dict = {}  # territory shapes, shared by every proposal and report of the queue
    proposals = [p for p in session.scalars(select(Proposal).where(Proposal.state == "ouverte").order_by(Proposal.id))
                 if may_decide(session, account, p, cache)]
    reports = [r for r in session.scalars(select(ErrorReport).where(ErrorReport.state == "ouvert")
                                          .order_by(ErrorReport.id)) if may_handle(session, account, r, cache)]
    mine = list(session.scalars(select(Proposal).where(Proposal.account_id == account.id)
                                .order_by(Proposal.id.desc()))) if account.role == "referent" else []
    return {"proposals": proposals, "reports": reports, "mine": mine}
