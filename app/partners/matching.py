"""One structure, one card: matching a record from one source with a partner already loaded from
another (demo or partner sheet, FINESS, data·inclusion) before creating it.

Rules, in order (the first that applies decides):

1. the record's ref is an alias of a partner (an earlier import merged it there): that partner;
2. the same FINESS number (`finess`): the same establishment, certain;
3. the same data·inclusion id: certain;
4. the same SIRET, valid by its Luhn key (python-stdnum; a placeholder or mistyped number never
   matches), and one partner only of the same kind carries it: certain;
5. the same kind, the same place (the commune of the main site; for a partner without site, its
   coverage codes: a département-wide MDPH without address matches one with a site in that
   département) and names alike once normalised (case, accents, punctuation, articles, the usual
   acronyms: CCAS, MDPH, CMP, SIAO…): rapidfuzz `token_sort_ratio` ≥ NAME_THRESHOLD, and the same
   distinguishing words (numbers, nord/sud/est/ouest, adultes/enfants…: "CMP adultes Bondy nord"
   and "… Bondy sud" score 91 yet are two CMP). Probable only: a person decides
   (`--merge-probable`, `--create-probable`).

Two different FINESS numbers are two establishments: they never match, whatever their names (a
hospital's CMP for adults and its CMP for children share a SIRET and often a street).

A certain match (or a probable one a person confirmed) merges: the stored partner keeps everything
people gave it; the record only fills what it lacks (identifiers, description, how to refer, sites
and contacts when it has none) and the record's ref becomes an alias of the partner
(`PartnerAlias`, with its source, file, line and what matched), shown in its provenance.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import territories
from app.models import CoveragePart, Partner, PartnerAlias, Site

# out of 100, on normalised names: a typo or a plural scores 95-98 ("tilleul"/"tilleuls" 98); a
# different name of the same pattern stays under ("pension famille lilas"/"… iris" 88, "ccas bondy"/
# "ccas bobigny" 82), and so does an extra word ("ccas bondy"/"ccas bondy demo" 80)
NAME_THRESHOLD = 90
# words that tell two structures of one kind in one town apart, whatever the rest of the name
DISTINGUISHING = {"nord", "sud", "est", "ouest", "centre", "adulte", "adultes", "enfant", "enfants", "adolescent",
                  "adolescents", "infanto", "juvenile", "jeunes", "bis", "ter", "ii", "iii", "iv"}
ARTICLES = {"le", "la", "les", "l", "un", "une", "de", "du", "des", "d", "et", "a", "au", "aux", "en"}
ACRONYMS = (
    ("centre communal d action sociale", "ccas"),
    ("centre intercommunal d action sociale", "cias"),
    ("maison departementale des personnes handicapees", "mdph"),
    ("centre medico psychologique", "cmp"),
    ("centre d accueil therapeutique a temps partiel", "cattp"),
    ("service integre d accueil et d orientation", "siao"),
)
MATCHED_ON_LABELS = {"finess": "même numéro FINESS", "data_inclusion_id": "même identifiant data·inclusion",
                     "siret": "même SIRET", "nom": "même nom, même type, même lieu (confirmé)"}


def normalise_name(name: str) -> str:
    """"C.C.A.S. de l'Île-Saint-Denis" → "ccas ile saint denis"."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace(".", "")  # C.C.A.S. → ccas
    text = " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())
    for long, short in ACRONYMS:
        text = re.sub(rf"\b{long}\b", short, text)
    return " ".join(w for w in text.split() if w not in ARTICLES)


def usable_siret(siret: str | None) -> str | None:
    from stdnum.fr import siret as stdnum_siret

    if not siret or len(set(siret)) == 1 or not stdnum_siret.is_valid(siret):
        return None
    return stdnum_siret.compact(siret)


@dataclass
class Candidate:
    id: int
    ref: str
    kind: str
    name: str
    key: str  # normalised name
    finess: str | None
    siret: str | None
    data_inclusion_id: str | None
    site_commune: str | None  # INSEE code of the main site
    codes: frozenset[str] = frozenset()  # coverage include codes, for a partner without site

    @property
    def marks(self) -> frozenset[str]:
        return frozenset(w for w in self.key.split() if w in DISTINGUISHING or any(c.isdigit() for c in w))

    def place_keys(self) -> set[str]:
        if self.site_commune:
            return {f"commune:{self.site_commune}", f"site-in:{territories.departement_of(self.site_commune)}"}
        return set(self.codes)


@dataclass
class Match:
    candidate: Candidate
    on: str  # finess | data_inclusion_id | siret | nom
    score: float | None = None

    @property
    def certain(self) -> bool:
        return self.on != "nom"


@dataclass
class Index:
    """Every stored partner by identifier and by (kind, place), built once per import."""

    by_id: dict[int, Candidate] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)  # alias ref → partner id
    finess: dict[str, list[int]] = field(default_factory=dict)
    data_inclusion: dict[str, list[int]] = field(default_factory=dict)
    siret: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    places: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Index:
        index = cls()
        index.aliases = dict(session.execute(select(PartnerAlias.ref, PartnerAlias.partner_id)).all())
        sites: dict[int, str] = {}
        for pid, code in session.execute(select(Site.partner_id, Site.code_insee).where(
                Site.code_insee.is_not(None)).order_by(Site.partner_id, Site.position.desc())):
            sites[pid] = code  # the last written per partner is position 0: its main site
        codes: dict[int, set[str]] = {}
        for pid, code in session.execute(select(CoveragePart.partner_id, CoveragePart.code).where(
                CoveragePart.mode == "include", CoveragePart.code.is_not(None))):
            codes.setdefault(pid, set()).add(code)
        for row in session.execute(select(Partner.id, Partner.ref, Partner.kind_code, Partner.name, Partner.finess,
                                          Partner.siret, Partner.data_inclusion_id)):
            index.add(Candidate(row.id, row.ref, row.kind_code, row.name, normalise_name(row.name), row.finess,
                                usable_siret(row.siret), row.data_inclusion_id, sites.get(row.id),
                                frozenset(codes.get(row.id, ()))))
        return index

    def add(self, c: Candidate) -> None:
        self.by_id[c.id] = c
        if c.finess:
            self.finess.setdefault(c.finess, []).append(c.id)
        if c.data_inclusion_id:
            self.data_inclusion.setdefault(c.data_inclusion_id, []).append(c.id)
        if c.siret:
            self.siret.setdefault((c.kind, c.siret), []).append(c.id)
        for key in c.place_keys():
            self.places.setdefault((c.kind, key), []).append(c.id)

    def add_partner(self, partner: Partner) -> None:
        """A partner this import just created, so a later record of the same file matches it."""
        self.add(candidate_of(partner.id, partner.ref, record_fields(partner)))

    def find(self, record: dict) -> Match | None:
        """The stored partner this record (a clean record from registry.normalise) stands for."""
        ref = record["ref"]
        if ref in self.aliases:
            return Match(self.by_id[self.aliases[ref]], "alias")
        me = candidate_of(0, ref, record)
        for on, ids in (("finess", self.finess.get(me.finess or "")),
                        ("data_inclusion_id", self.data_inclusion.get(me.data_inclusion_id or ""))):
            if ids:
                return Match(self.by_id[ids[0]], on)
        same_siret = [i for i in self.siret.get((me.kind, me.siret or ""), []) if not self._conflict(me, self.by_id[i])]
        if len(same_siret) == 1:
            return Match(self.by_id[same_siret[0]], "siret")
        best: Match | None = None
        if me.site_commune:  # partners sited in the same commune, or without site and covering it
            lookup = {f"commune:{me.site_commune}", f"departement:{territories.departement_of(me.site_commune)}"}
        else:  # partners without site sharing a code, or sited in one of its communes or départements
            lookup = set(me.codes) | {f"site-in:{code.split(':', 1)[1]}" for code in me.codes
                                      if code.startswith("departement:")}
        seen: set[int] = set()
        for key in lookup:
            for pid in self.places.get((me.kind, key), []):
                if pid in seen:
                    continue
                seen.add(pid)
                other = self.by_id[pid]
                if self._conflict(me, other) or me.marks != other.marks:
                    continue
                score = fuzz.token_sort_ratio(me.key, other.key)
                if score >= NAME_THRESHOLD and (best is None or score > best.score):
                    best = Match(other, "nom", score)
        return best

    @staticmethod
    def _conflict(a: Candidate, b: Candidate) -> bool:
        return bool(a.finess and b.finess and a.finess != b.finess)


def record_fields(partner: Partner) -> dict:
    return {"kind": partner.kind_code, "name": partner.name, "finess": partner.finess, "siret": partner.siret,
            "data_inclusion_id": partner.data_inclusion_id,
            "sites": [{"code_insee": s.code_insee} for s in partner.sites],
            "coverage": {"include": [p.code for p in partner.parts if p.code and p.mode == "include"]}}


def candidate_of(pid: int, ref: str, record: dict) -> Candidate:
    site = next((s.get("code_insee") for s in record.get("sites") or [] if s.get("code_insee")), None)
    coverage = record.get("coverage") or {}
    return Candidate(pid, ref, record.get("kind"), record.get("name") or "", normalise_name(record.get("name") or ""),
                     record.get("finess"), usable_siret(record.get("siret")), record.get("data_inclusion_id"),
                     site, frozenset(coverage.get("include") or ()))


# --------------------------------------------------------------------------------------------- merge

IDENTIFIERS = ("finess", "siret", "data_inclusion_id")
FILLED = ("description", "how_to_refer", "website", "eligibility", "capacity", "valid_from", "last_verified_at")


def fill(stored: dict, incoming: dict) -> dict:
    """The stored record, with only what it lacks taken from the incoming one."""
    merged = dict(stored)
    for name in IDENTIFIERS + FILLED:
        if merged.get(name) in (None, "") and incoming.get(name) not in (None, ""):
            merged[name] = incoming[name]
    for name in ("housing_types", "sites", "contacts", "funders"):
        if not merged.get(name) and incoming.get(name):
            merged[name] = incoming[name]
    from app.partners import referral

    if referral.is_empty(merged.get("referral")) and not referral.is_empty(incoming.get("referral")):
        merged["referral"] = incoming["referral"]
    return merged


def probable_message(record: dict, line: int | None, match: Match) -> str:
    other = match.candidate
    return (f"doublon probable : « {record['name']} » ligne {line} ↔ partenaire existant {other.ref} "
            f"« {other.name} » (même type, même lieu, noms semblables à {match.score:.0f} %) — relancer avec "
            "--merge-probable pour le rattacher à ce partenaire, ou --create-probable pour créer une fiche distincte")


def merged_message(record: dict, match: Match) -> str:
    return (f"« {record['name']} » rattaché au partenaire existant {match.candidate.ref} "
            f"(« {match.candidate.name} », {MATCHED_ON_LABELS[match.on]}) : aucune nouvelle fiche")
