"""The orientation guide, "Que faire face à… ?": from the signs a front-line worker observes to the
partners to mobilise for an address, in order, each with why (docs/orientation.md).

The signs are the Dihal–USH weak-signals grid (geodata/orientation-signals.csv) and the rules
are data (geodata/orientation-rules.csv: sign → kinds in order, with the reason shown); a
territory adapts them with rows of its own (column `territoire`). `guide()` is a pure function of
a lookup answer and the ticked signs: it stores nothing, logs nothing and reads no database — the
signs live only in the request that asks.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.config import PROJECT_ROOT
from app.errors import InvalidInput
from app.french import plural
from app.territories import parse_code

SIGNALS_FILE = PROJECT_ROOT / "geodata" / "orientation-signals.csv"
RULES_FILE = PROJECT_ROOT / "geodata" / "orientation-rules.csv"
KINDS_FILE = PROJECT_ROOT / "geodata" / "kinds.csv"

# The rule applied when signs of two categories or more are ticked together.
ACCUMULATION = "accumulation"
CATEGORY_LABELS = {
    "urgence": "Urgence",
    "comportement": "Troubles du comportement",
    "isolement": "Isolement excessif",
    "insalubrite": "Signes d'insalubrité",
    "administratif": "Difficultés administratives",
}
# Always shown on the card, the fiche and the guide.
EMERGENCY_NUMBERS = (
    {"number": "15", "alt": "112", "label": "urgence médicale, danger immédiat"},
    {"number": "3114", "alt": None, "label": "prévention du suicide (24 h/24, gratuit)"},
    {"number": "115", "alt": None, "label": "hébergement d'urgence"},
)
# The most specific territory wins: a commune's rows over its EPCI's, over its département's…
SPECIFICITY = {"arrondissement": 5, "commune": 4, "epci": 3, "departement": 2, "region": 1}


@dataclass(frozen=True)
class Signal:
    code: str
    category: str
    label: str
    emergency: bool
    advice: str

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS[self.category]


@dataclass(frozen=True)
class Rule:
    line: int
    signal: str
    territory: str | None  # typed territory code, or None for the national default
    rank: int
    kind: str
    reason: str


@dataclass(frozen=True)
class Catalogue:
    signals: tuple[Signal, ...]
    rules: tuple[Rule, ...]

    def signal(self, code: str) -> Signal:
        return next(s for s in self.signals if s.code == code)

    def by_category(self) -> list[tuple[str, str, list[Signal]]]:
        out = []
        for category, label in CATEGORY_LABELS.items():
            items = [s for s in self.signals if s.category == category]
            if items:
                out.append((category, label, items))
        return out


def _kind_codes(path: Path) -> set[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["code"].strip() for row in csv.DictReader(fh)}


@lru_cache(maxsize=8)
def catalogue(signals_path: Path = SIGNALS_FILE, rules_path: Path = RULES_FILE,
              kinds_path: Path = KINDS_FILE) -> Catalogue:
    """The signs and the rules, checked: every sign in a known category, every rule on a known sign
    (or `accumulation`) and a kind of the catalogue, ranks whole numbers, territories typed codes."""
    signals: list[Signal] = []
    with signals_path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            where = f"{signals_path.name}, ligne {line}"
            category = (row.get("category") or "").strip()
            if category not in CATEGORY_LABELS:
                raise InvalidInput(f"{where} : catégorie « {category} » inconnue ({', '.join(CATEGORY_LABELS)})")
            emergency = (row.get("emergency") or "").strip().lower()
            if emergency not in ("true", "false"):
                raise InvalidInput(f"{where} : emergency vaut true ou false (reçu « {emergency} »)")
            signals.append(Signal(row["code"].strip(), category, row["label"].strip(), emergency == "true",
                                  (row.get("advice") or "").strip()))
    codes = {s.code for s in signals}
    if len(codes) != len(signals):
        raise InvalidInput(f"{signals_path.name} : un code de signe est en double")
    kinds = _kind_codes(kinds_path)
    rules: list[Rule] = []
    with rules_path.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            where = f"{rules_path.name}, ligne {line}"
            signal, kind = (row.get("signal") or "").strip(), (row.get("type") or "").strip()
            if signal not in codes and signal != ACCUMULATION:
                raise InvalidInput(f"{where} : signe « {signal} » inconnu de {signals_path.name}")
            if kind not in kinds:
                raise InvalidInput(f"{where} : type « {kind} » absent de {kinds_path.name}")
            try:
                rank = int((row.get("rang") or "").strip())
            except ValueError:
                raise InvalidInput(f"{where} : rang « {row.get('rang')} » : nombre entier attendu") from None
            raw_territory = (row.get("territoire") or "").strip()
            territory = None
            if raw_territory:
                typed = parse_code(raw_territory)  # raises a clear message for a bare or unknown code
                if typed.level not in SPECIFICITY:
                    raise InvalidInput(f"{where} : territoire « {raw_territory} » : commune, arrondissement, epci, "
                                       "departement ou region attendu")
                territory = str(typed)
            reason = (row.get("raison") or "").strip()
            if not reason:
                raise InvalidInput(f"{where} : raison obligatoire (elle est montrée à l'utilisateur)")
            rules.append(Rule(line, signal, territory, rank, kind, reason))
    return Catalogue(tuple(signals), tuple(rules))


def check_signals(raw: list[str], cat: Catalogue | None = None) -> list[str]:
    """The ticked signs, known and in the grid's order; an unknown one is refused (never echoed)."""
    cat = cat or catalogue()
    known = [s.code for s in cat.signals]
    unknown = [code for code in raw if code not in known]
    if unknown:
        raise InvalidInput(f"{plural(len(unknown), 'signe non reconnu', 'signes non reconnus')} : cocher les signes "
                           "dans la liste proposée.")
    return [code for code in known if code in set(raw)]


def rules_for(cat: Catalogue, signal: str, territory_codes: set[str]) -> list[Rule]:
    """A sign's rules at an address: the most specific territory that has rows for it, else the
    national rows."""
    rows = [r for r in cat.rules if r.signal == signal]
    local = [r for r in rows if r.territory in territory_codes]
    if local:
        best = max(SPECIFICITY[r.territory.split(":", 1)[0]] for r in local)
        rows = [r for r in local if SPECIFICITY[r.territory.split(":", 1)[0]] == best]
    else:
        rows = [r for r in rows if r.territory is None]
    return sorted(rows, key=lambda r: (r.rank, r.line))


def territory_codes(answer: dict) -> set[str]:
    """The typed codes of the address in a lookup answer: its units and their groups."""
    territory = answer.get("territory") or {}
    codes = {u["code"] for u in territory.get("units", [])}
    for level in ("departement", "region", "epci", "ept"):
        if territory.get(level):
            codes.add(territory[level]["code"])
    return codes


def guide(answer: dict, ticked: list[str], cat: Catalogue | None = None) -> dict:
    """For the ticked signs (already checked) and a lookup answer: the emergency advice first, then
    one step per kind to mobilise, in order — the best rank any ticked sign gives it, then the order
    of the signs — each with its reasons and the kind's answer at the address (its partners, or
    what to do when none)."""
    cat = cat or catalogue()
    chosen = [cat.signal(code) for code in ticked]
    categories = {s.category for s in chosen if not s.emergency}
    applied = [s.code for s in chosen]
    if len(categories) >= 2:
        applied.append(ACCUMULATION)
    codes = territory_codes(answer)
    kinds_at_address = {k["kind"]: k for k in answer.get("kinds", [])}
    steps: dict[str, dict] = {}
    for order, signal in enumerate(applied):
        label = "Plusieurs signes" if signal == ACCUMULATION else cat.signal(signal).label
        for rule in rules_for(cat, signal, codes):
            step = steps.get(rule.kind)
            if step is None:
                step = steps[rule.kind] = {"kind": rule.kind, "rank": rule.rank, "order": order, "reasons": [],
                                           "answer": kinds_at_address.get(rule.kind)}
            elif (rule.rank, order) < (step["rank"], step["order"]):
                step["rank"], step["order"] = rule.rank, order
            step["reasons"].append({"signal": signal, "signal_label": label, "reason": rule.reason})
    ordered = sorted(steps.values(), key=lambda s: (s["rank"], s["order"]))
    # A kind the lookup did not answer (an age filter left it out) is not a step at this address.
    listed = [s for s in ordered if s["answer"] is not None]
    for position, step in enumerate(listed, start=1):
        step["position"] = position
        kind_answer = step["answer"]
        step["found"] = bool(kind_answer.get("partners"))
        del step["rank"], step["order"]
    return {
        "signals": [{"code": s.code, "label": s.label, "category_label": s.category_label} for s in chosen],
        "emergency": [{"code": s.code, "label": s.label, "advice": s.advice} for s in chosen if s.emergency],
        "accumulation": ACCUMULATION in applied,
        "steps": listed,
        "emergency_numbers": list(EMERGENCY_NUMBERS),
    }
