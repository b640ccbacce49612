"""`maillage accounts …` (the first administrator, invitations, the list, deactivation, deletion) and
`maillage reminders send`."""

from __future__ import annotations

import datetime as dt

import click

from app.vocabulary import ROLE_LABELS, ROLES


def _engine(ctx):
    from app.cli import _require_schema

    return _require_schema(ctx)


def _settings(ctx):
    from app.config import load_settings

    _engine(ctx)
    return ctx.obj.get("settings") or load_settings()


def _link(settings, path: str) -> str:
    return (settings.PUBLIC_URL.rstrip("/") or "http://localhost:8000") + path


def _account(session, email: str):
    from app import accounts
    from app.models import Account
    from sqlalchemy import select

    found = session.scalar(select(Account).where(Account.email == accounts.normalise_email(email)))
    if found is None:
        raise click.ClickException(f"Aucun compte pour « {email} ».")
    return found


@click.group("accounts")
def accounts_group():
    """Comptes de l'équipe : premier administrateur, invitations, liste, désactivation, suppression."""


def _invite(ctx, email, name, role, territories, partners):
    from app import accounts, db
    from app.accounts import mail
    from app.errors import MaillageError

    settings = _settings(ctx)
    try:
        with db.transaction(_engine(ctx)) as session:
            account = accounts.create_account(session, email=email, name=name, role=role, territory_codes=territories,
                                              partner_ids=partners, actor_label="ligne de commande")
            token = accounts.issue_token(session, account, "invitation", dt.timedelta(days=settings.INVITATION_DAYS))
            link = _link(settings, f"/invitation/{token}")
            if settings.SMTP_HOST:
                mail.send(settings, account.email, *mail.invitation(settings, account.name, link))
                click.echo(f"Invitation envoyée à {account.email} ({ROLE_LABELS[role]}).")
            else:
                click.echo(f"MAILLAGE_SMTP_HOST non réglé : transmettre ce lien (valable {settings.INVITATION_DAYS} "
                           f"jours, une seule fois) à {account.email} :\n{link}")
    except MaillageError as exc:
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        raise click.ClickException(f"Envoi du courriel impossible ({exc.__class__.__name__}) : rien n'a été créé.") from None


@accounts_group.command("create-admin")
@click.argument("email")
@click.option("--name", required=True, help="Nom de la personne.")
@click.pass_context
def create_admin(ctx, email, name):
    """Crée un administrateur (le premier d'une instance) et lui envoie son lien d'invitation."""
    _invite(ctx, email, name, "admin", (), ())


@accounts_group.command("invite")
@click.argument("email")
@click.option("--name", required=True, help="Nom de la personne.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--territory", "territories", multiple=True, help="Code typé (departement:93) ; répétable.")
@click.option("--partner", "partners", multiple=True, help="Numéro ou ref du partenaire ; répétable.")
@click.pass_context
def invite(ctx, email, name, role, territories, partners):
    """Invite une personne : un lien à usage unique et limité dans le temps lui est envoyé."""
    _invite(ctx, email, name, role, territories, partners)


@accounts_group.command("list")
@click.pass_context
def list_accounts(ctx):
    """Liste les comptes : nom, adresse, rôle, périmètre, état."""
    from app import accounts, db

    with db.transaction(_engine(ctx)) as session:
        for a in accounts.accounts(session):
            scope = ", ".join(a.territories or []) or ", ".join(map(str, a.partners or [])) or "instance"
            state = "désactivé" if not a.active else ("invitation en attente" if not a.password_hash else "actif")
            click.echo(f"{a.id}\t{a.name}\t{a.email}\t{ROLE_LABELS[a.role]}\t{scope}\t{state}")


@accounts_group.command("deactivate")
@click.argument("email")
@click.option("--reactivate", is_flag=True, help="Réactive le compte au lieu de le désactiver.")
@click.pass_context
def deactivate(ctx, email, reactivate):
    """Désactive un compte (ses sessions ouvertes se ferment)."""
    from app import accounts, db

    with db.transaction(_engine(ctx)) as session:
        accounts.set_active(session, _account(session, email), reactivate, actor_label="ligne de commande")
    click.echo("Compte réactivé." if reactivate else "Compte désactivé.")


@accounts_group.command("delete")
@click.argument("email")
@click.pass_context
def delete(ctx, email):
    """Supprime un compte : son historique reste, sous un pseudonyme."""
    from app import accounts, db

    with db.transaction(_engine(ctx)) as session:
        account = _account(session, email)
        alias = accounts.pseudonym(account.id)
        accounts.delete_account(session, account, actor_label="ligne de commande")
    click.echo(f"Compte supprimé ; son historique apparaît désormais comme « {alias} ».")


@click.group("reminders")
def reminders_group():
    """Rappels par courriel (à lancer par cron)."""


@reminders_group.command("send")
@click.option("--dry-run", is_flag=True, help="Affiche les rappels sans les envoyer.")
@click.pass_context
def reminders_send(ctx, dry_run):
    """Envoie à chaque référent ses fiches à vérifier, à chaque administrateur de territoire sa file et ses fiches à vérifier."""
    from app import db
    from app.accounts import mail
    from app.editing import freshness

    settings = _settings(ctx)
    if not dry_run and not settings.SMTP_HOST:
        raise click.ClickException("MAILLAGE_SMTP_HOST non réglé : aucun rappel ne peut partir (--dry-run pour les voir).")
    with db.transaction(_engine(ctx)) as session:
        messages = freshness.reminders(session)
        for account, subject, body in messages:
            if dry_run:
                click.echo(f"--- {account.email} : {subject}\n{body}")
            else:
                mail.send(settings, account.email, subject, body)
    click.echo(f"{len(messages)} rappel{'s' if len(messages) > 1 else ''} {'à envoyer' if dry_run else 'envoyé' + ('s' if len(messages) > 1 else '')}.")
