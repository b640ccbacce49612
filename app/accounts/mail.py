"""E-mail through SMTP (MAILLAGE_SMTP_*): invitations, password resets, reminders. Plain text, French."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from app.config import Settings

log = logging.getLogger("maillage")


class MailNotConfigured(RuntimeError):
    pass


def send(settings: Settings, to: str, subject: str, body: str) -> None:
    """Send one message; MailNotConfigured without MAILLAGE_SMTP_HOST. Never logs the recipient."""
    if not settings.SMTP_HOST:
        raise MailNotConfigured("MAILLAGE_SMTP_HOST n'est pas réglé : aucun courriel ne peut partir.")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.MAIL_FROM, to, subject
    message.set_content(body)
    with smtplib.SMTP(settings.SMTP_HOST, settings.SMTP_PORT, timeout=10) as smtp:
        if settings.SMTP_STARTTLS:
            smtp.starttls()
        if settings.SMTP_USER:
            smtp.login(settings.SMTP_USER, settings.SMTP_PASSWORD)
        smtp.send_message(message)
    log.info("mail sent: %s", subject)


def invitation(settings: Settings, name: str, link: str) -> tuple[str, str]:
    return ("Votre compte Maillage",
            f"Bonjour {name},\n\nUn compte vous a été ouvert sur Maillage. Pour choisir votre mot de passe, "
            f"ouvrez ce lien (valable {settings.INVITATION_DAYS} jours, une seule fois) :\n\n{link}\n\n"
            "Si vous n'attendiez pas ce message, ignorez-le.\n")


def reset(settings: Settings, link: str) -> tuple[str, str]:
    return ("Réinitialisation de votre mot de passe Maillage",
            f"Bonjour,\n\nPour choisir un nouveau mot de passe, ouvrez ce lien (valable {settings.RESET_HOURS} "
            f"heures, une seule fois) :\n\n{link}\n\nSi vous n'avez rien demandé, ignorez ce message : "
            "votre mot de passe reste le même.\n")
