"""Structured referral and funding of a partner: who may refer, through which channels, with which
documents, whether the person's consent is required, the usual delay, the partner's own online form
and fiche de liaison (or the fields a generic one asks for); its funders and the end of its funding.

Checked here for every source (app.partners.registry.normalise calls `normalise`); mapped both ways
with data·inclusion's `mobilisable_par` / `modes_mobilisation` / `lien_mobilisation`
(app/exchange/data_inclusion.py, importers/data_inclusion.py). Documented in docs/partner-record.md.
"""

from __future__ import annotations

import re

from app.french import agree
from app.vocabulary import CHANNEL_LABELS, FUNDER_LABELS, REFERRER_LABELS

URL_RE = re.compile(r"^https?://[^\s<>\"]+$")
YES = {"oui", "true", "1", "yes", "o"}
NO = {"non", "false", "0", "no", "n"}
# What a generic fiche de liaison asks for when the partner names no fields of its own.
GENERIC_LIAISON_FIELDS = (
    "Structure qui oriente et fonction de la personne qui écrit",
    "Coordonnées professionnelles pour être rappelé",
    "Ce qui est observé, depuis quand",
    "Ce qui a déjà été tenté, et avec qui",
    "Accord de la personne pour cette orientation",
    "Ce qui est demandé au partenaire",
)
# data·inclusion's vocabulary (data-inclusion-schema v1): ours is finer, so each of ours maps to one of theirs.
DI_REFERRERS = {"personne": "usagers", "entourage": "usagers", "bailleur": "professionnels",
                "travailleur_social": "professionnels", "medecin": "professionnels", "professionnel": "professionnels"}
DI_CHANNELS = {"telephone": "telephoner", "courriel": "envoyer-un-courriel", "formulaire": "utiliser-lien-mobilisation",
               "se_presenter": "se-presenter"}  # a fiche de liaison has no data·inclusion mode: said in the text
FROM_DI_CHANNELS = {v: k for k, v in DI_CHANNELS.items()}
FROM_DI_REFERRERS = {"usagers": "personne", "professionnels": "professionnel"}
EMPTY = {"referrers": [], "channels": [], "form_url": None, "liaison_url": None, "documents": None,
         "consent": None, "delay": None, "liaison_fields": []}


def _list(value) -> list:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split("|") if v.strip()]
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [value]


def _coded(value, labels: dict, errors, name: str) -> list[str]:
    out = []
    for item in _list(value):
        if item not in labels:
            errors.add(name, f"« {item} » (valeurs : {', '.join(labels)})")
        elif item not in out:
            out.append(item)
    return [code for code in labels if code in out]  # the vocabulary's order: stable records


def _text(value, errors, name: str, max_len: int = 2000) -> str | None:
    from app.partners.registry import _text as checked_text  # the registry imports this module

    return checked_text(value, errors, name, max_len=max_len)


def _url(value, errors, name: str) -> str | None:
    text = _text(value, errors, name, 500)
    if text is not None and not URL_RE.match(text):
        errors.add(name, f"adresse web invalide « {text} » (http:// ou https://)")
        return None
    return text


def _consent(value, errors, name: str) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in YES:
        return True
    if word in NO:
        return False
    errors.add(name, f"« {value} » (oui ou non)")
    return None


def normalise(data, errors) -> dict:
    """A record's `referral` object, checked; every problem goes to `errors` with its field."""
    if data in (None, "", {}):
        return dict(EMPTY)
    if not isinstance(data, dict):
        errors.add("referral", "objet attendu (referrers, channels, form_url, documents, consent, delay…)")
        return dict(EMPTY)
    out = {
        "referrers": _coded(data.get("referrers"), REFERRER_LABELS, errors, "referral.referrers"),
        "channels": _coded(data.get("channels"), CHANNEL_LABELS, errors, "referral.channels"),
        "form_url": _url(data.get("form_url"), errors, "referral.form_url"),
        "liaison_url": _url(data.get("liaison_url"), errors, "referral.liaison_url"),
        "documents": _text(data.get("documents"), errors, "referral.documents"),
        "consent": _consent(data.get("consent"), errors, "referral.consent"),
        "delay": _text(data.get("delay"), errors, "referral.delay", 200),
        "liaison_fields": [f for f in (_text(v, errors, "referral.liaison_fields", 200) for v in _list(
            data.get("liaison_fields"))) if f],
    }
    if "formulaire" in out["channels"] and not out["form_url"]:
        errors.add("referral.form_url", "le mode « formulaire en ligne » demande le lien du formulaire")
    unknown = set(data) - set(EMPTY)
    if unknown:
        errors.add("referral", f"{agree(len(unknown), 'champ inconnu', 'champs inconnus')} : {', '.join(sorted(unknown))}")
    return out


def funders(value, errors) -> list[str]:
    return _coded(value, FUNDER_LABELS, errors, "funders")


def is_empty(referral: dict | None) -> bool:
    return not referral or all(v in (None, [], "") for v in referral.values())


def shown(referral: dict | None) -> dict:
    """The referral as pages show it: labels instead of codes."""
    referral = {**EMPTY, **(referral or {})}
    return {**referral,
            "referrer_labels": [REFERRER_LABELS[c] for c in referral["referrers"] if c in REFERRER_LABELS],
            "channel_labels": [CHANNEL_LABELS[c] for c in referral["channels"] if c in CHANNEL_LABELS],
            "empty": is_empty(referral)}


def liaison_fields(referral: dict | None) -> list[str]:
    """The fields a blank fiche de liaison for this partner asks for."""
    own = (referral or {}).get("liaison_fields") or []
    return list(own) if own else list(GENERIC_LIAISON_FIELDS)


# --------------------------------------------------------------------------------------------- data·inclusion

# The sentences the export writes into mobilisation_precisions and the import reads back.
SENTENCES = (
    ("referrers", "Peuvent orienter : "),
    ("documents", "Pièces à fournir : "),
    ("delay", "Délai habituel : "),
    ("liaison", "Fiche de liaison : "),
)
CONSENT_SENTENCES = {True: "Accord de la personne requis.", False: "Sans accord préalable de la personne."}


def to_data_inclusion(referral: dict | None, how_to_refer: str | None) -> dict:
    """mobilisable_par, modes_mobilisation, lien_mobilisation and mobilisation_precisions."""
    referral = {**EMPTY, **(referral or {})}
    mobilisable = sorted({DI_REFERRERS[c] for c in referral["referrers"]})
    modes = sorted({DI_CHANNELS[c] for c in referral["channels"] if c in DI_CHANNELS})
    lines = [how_to_refer.strip()] if how_to_refer and how_to_refer.strip() else []
    if referral["referrers"]:
        lines.append(SENTENCES[0][1] + ", ".join(referral["referrers"]) + ".")
    if referral["documents"]:
        lines.append(SENTENCES[1][1] + referral["documents"].rstrip(".") + ".")
    if referral["consent"] is not None:
        lines.append(CONSENT_SENTENCES[referral["consent"]])
    if referral["delay"]:
        lines.append(SENTENCES[2][1] + referral["delay"].rstrip(".") + ".")
    if "fiche_liaison" in referral["channels"] or referral["liaison_url"]:
        lines.append(SENTENCES[3][1] + (referral["liaison_url"] or "oui") + ".")
    return {"mobilisable_par": mobilisable or None, "modes_mobilisation": modes or None,
            "lien_mobilisation": referral["form_url"],
            "mobilisation_precisions": "\n".join(lines) or None}


def from_data_inclusion(mobilisable_par, modes, lien, precisions: str | None) -> tuple[dict, str]:
    """(referral, the rest of the text as how_to_refer) from a data·inclusion service; reads back
    the sentences `to_data_inclusion` writes, so Maillage → data·inclusion → Maillage is identical."""
    referral = dict(EMPTY)
    rest = []
    referrers: list[str] = []
    for line in (precisions or "").split("\n"):
        text = line.strip()
        if text.startswith(SENTENCES[0][1]):
            referrers = [c.strip() for c in text[len(SENTENCES[0][1]):].rstrip(".").split(",")
                         if c.strip() in REFERRER_LABELS]
        elif text.startswith(SENTENCES[1][1]):
            referral["documents"] = text[len(SENTENCES[1][1]):].rstrip(".")
        elif text.startswith(SENTENCES[2][1]):
            referral["delay"] = text[len(SENTENCES[2][1]):].rstrip(".")
        elif text.startswith(SENTENCES[3][1]):
            value = text[len(SENTENCES[3][1]):].rstrip(".")
            referral["liaison_url"] = value if URL_RE.match(value) else None
            referral["channels"] = ["fiche_liaison"]
        elif text in (CONSENT_SENTENCES[True], CONSENT_SENTENCES[False]):
            referral["consent"] = text == CONSENT_SENTENCES[True]
        elif text:
            rest.append(text)
    values = lambda items: [getattr(v, "value", v) for v in (items or [])]  # noqa: E731 (enums or strings)
    if not referrers:
        referrers = [FROM_DI_REFERRERS[v] for v in values(mobilisable_par) if v in FROM_DI_REFERRERS]
    referral["referrers"] = [c for c in REFERRER_LABELS if c in referrers]
    channels = set(referral["channels"]) | {FROM_DI_CHANNELS[v] for v in values(modes) if v in FROM_DI_CHANNELS}
    referral["form_url"] = str(lien) if lien else None
    if not referral["form_url"]:
        channels.discard("formulaire")  # a mode without its link says nothing one could use
    referral["channels"] = [c for c in CHANNEL_LABELS if c in channels]
    return referral, "\n".join(rest)


# --------------------------------------------------------------------------------------------- the editing form

CONSENT_FORM = {"oui": True, "non": False, "": None}


def from_form(form) -> dict:
    """`referral`, `funders` and `funding_end` from the partner form's fields (templates/_referral_form.html);
    checked by the registry like any record."""
    lines = [line.strip() for line in (form.get("referral_liaison_fields") or "").splitlines() if line.strip()]
    consent = (form.get("referral_consent") or "").strip()
    return {
        "referral": {
            "referrers": form.getlist("referral_referrers"), "channels": form.getlist("referral_channels"),
            "form_url": (form.get("referral_form_url") or "").strip() or None,
            "liaison_url": (form.get("referral_liaison_url") or "").strip() or None,
            "documents": (form.get("referral_documents") or "").strip() or None,
            "consent": CONSENT_FORM.get(consent, consent),
            "delay": (form.get("referral_delay") or "").strip() or None,
            "liaison_fields": lines,
        },
        "funders": form.getlist("funders"),
        "funding_end": (form.get("funding_end") or "").strip() or None,
    }
