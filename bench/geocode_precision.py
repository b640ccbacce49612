"""Geocoder precision: how often a street that does not exist is answered as a real one.

A front-line worker types an address; if its street is not in the BAN file (a typo beyond repair, a
new street, the wrong commune), the answer must not be another street of the commune given as sure.
This script measures, for the `local` geocoder on the Bondy BAN file, by score threshold
(MAILLAGE_GEOCODER_MIN_SCORE):

- false streets: "12 rue de Quimperlé 93140 Bondy" — French commune names used as street names,
  keeping only those sharing no word with a Bondy street. A false street is *accepted* when the top
  candidate is at street or address level, found (not ambiguous) and scores at least the threshold;
- real addresses with the noise of bench/geocode_bench.py: *found right* when the top candidate is
  the address (or within 15 m), found, and scores at least the threshold;
- real Bondy addresses written in another commune of Seine-Saint-Denis ("5 rue de l'Égalité Les
  Lilas", "… Lilas", "… 93260"): *answered elsewhere* when found at street or address level in Bondy
  at the default threshold — it must never happen (the named commune, "à confirmer", is the answer).

    .venv/bin/python bench/geocode_precision.py [--n 1000] [--seed 7]

Needs ../shared/data/ban-adresses-93010-bondy.csv and communes-france-2026.csv.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.geocode_bench import BAN_FILE, SHARED, build_local, correct, generate  # noqa: E402

COMMUNES = SHARED / "communes-france-2026.csv"
STREET_TYPES = ["rue", "avenue", "allée", "boulevard", "impasse", "chemin", "place", "rue de", "avenue de"]
THRESHOLDS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8]


def words(text: str) -> set[str]:
    from app.geocoding.normalize import canonical_tokens

    # words of 3 letters or more: "de", "la", "le" alone do not make two names alike
    return {w for w in canonical_tokens(text) if len(w) >= 3}


def false_streets(rows: list[dict], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    bondy_words = set()
    for row in rows:
        bondy_words |= words(row["nom_voie"])
    with COMMUNES.open(encoding="utf-8", newline="") as fh:
        names = [r["nom"] for r in csv.DictReader(fh) if r["type"] == "COM"]
    rng.shuffle(names)
    out = []
    for name in names:
        if len(out) >= n:
            break
        own = words(name)
        if not own or own & bondy_words:
            continue
        suffix = rng.choice(["93140 Bondy", "Bondy", "93140"])
        out.append(f"{rng.randint(1, 120)} {rng.choice(STREET_TYPES)} {name} {suffix}")
    return out


def other_commune(url: str, rows: list[dict], n: int, seed: int) -> list[str]:
    """Real Bondy addresses with another commune of the reference written: its official name, the
    name without its article, or its postal code."""
    from sqlalchemy import create_engine, text

    from app.geocoding.communes import without_article
    from app.geocoding.normalize import fold

    engine = create_engine(url)  # plain SQLite: names and postal codes only
    with engine.connect() as conn:
        others = [(name, (postcodes or "").split("|")[0]) for name, postcodes in conn.execute(text(
            "SELECT name, postcodes FROM territory WHERE level = 'commune' AND code != '93010' ORDER BY code"))]
    engine.dispose()
    rng = random.Random(seed)
    out = []
    for row in rng.sample(rows, n):
        name, postcode = rng.choice(others)
        bare = without_article(fold(name))
        commune = rng.choice([name, bare, postcode or name])
        out.append(f"{row['numero']}{row['rep'] and ' ' + row['rep']} {row['nom_voie']} {commune}")
    return out


def top_answers(url: str, queries: list[str], min_score: float = 0.0) -> list[tuple]:
    """(status, level, score, id, lon, lat, code_insee) of the top candidate, with no score floor
    unless one is given."""
    from app import db
    from app.config import load_settings
    from app.geocoding import Geocoder, GeocoderSettings

    engine = db.engine_from_settings(load_settings({"DATABASE_URL": url}))
    geocoder = Geocoder(GeocoderSettings(backends=("local",), min_score=min_score))
    out = []
    with db.session_factory(engine)() as session:
        for q in queries:
            result = geocoder.search(session, q, limit=5)
            top = result.candidates[0] if result.candidates else None
            out.append((result.status, top.level if top else None, top.score if top else 0.0,
                        top.id if top else None, top.lon if top else None, top.lat if top else None,
                        top.code_insee if top else None))
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="false streets, and real addresses per noise kind / 10")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with BAN_FILE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    wrong = false_streets(rows, args.n, args.seed)
    real = generate(rows, max(1, args.n // 10), args.seed)
    with tempfile.TemporaryDirectory() as tmpdir:
        url = build_local(Path(tmpdir))
        wrong_top = top_answers(url, wrong)
        real_top = top_answers(url, [q["q"] for q in real])
        moved = other_commune(url, rows, args.n, args.seed)
        moved_top = top_answers(url, moved, min_score=0.5)
    print(f"\n{len(wrong)} fausses voies, {len(real)} adresses réelles bruitées (graine {args.seed})\n")
    print("| seuil | fausses voies acceptées comme voie/adresse | adresses réelles trouvées justes |")
    print("|---|---|---|")
    for t in THRESHOLDS:
        accepted = sum(1 for status, level, score, *_ in wrong_top
                       if status == "found" and level in ("housenumber", "street") and score >= t)
        right = sum(1 for q, (status, level, score, id_, lon, lat, _code) in zip(real, real_top)
                    if status == "found" and score >= t
                    and correct(q, {"id": id_, "lon": lon, "lat": lat} if id_ or lon is not None else None))
        print(f"| {t:.2f} | {accepted} / {len(wrong)} ({accepted / len(wrong):.1%}) | "
              f"{right} / {len(real)} ({right / len(real):.1%}) |")
    worst = sorted((score, q) for q, (status, level, score, *_) in zip(wrong, wrong_top)
                   if status == "found" and level in ("housenumber", "street"))[-5:]
    print("\nFausses voies les mieux notées :")
    for score, q in reversed(worst):
        print(f"  {score:.3f}  {q}")
    elsewhere = [q for q, (status, level, *_rest, code) in zip(moved, moved_top)
                 if status == "found" and level in ("housenumber", "street") and code == "93010"]
    print(f"\nAdresses de Bondy écrites dans une autre commune : {len(elsewhere)} / {len(moved)} "
          "répondues à Bondy (voie ou numéro)" + "".join(f"\n  {q}" for q in elsewhere[:5]))


if __name__ == "__main__":
    main()
