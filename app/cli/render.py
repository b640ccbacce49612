"""What the command line prints: import reports, lookup answers, geocoding candidates, gap
summaries, and the progress bar. Text for people, in French; `--json` options print the domain's
dicts as they are."""

from __future__ import annotations

import json
import sys

import click

from app import french
from app.vocabulary import GEOCODING_PRECISION_LABELS


class Progress:
    """tqdm progress bar on stderr, silent when stderr is not a terminal unless forced."""

    def __init__(self, label: str, total: int | None = None):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=label, unit=" lignes", file=sys.stderr, leave=False,
                        disable=None, mininterval=0.3)

    def __call__(self, n: int = 1, total: int | None = None):
        if total is not None:
            self.bar.total = total
        self.bar.update(n)

    def close(self):
        self.bar.close()


def rename(item: dict):
    click.echo(f"  renommé — {item['code']} : {item['old']} → {item['new']}")


def report(result, as_json: bool):
    """An import report: its summary, each rename, then every refused row and warning (stderr)."""
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=1))
        return
    click.echo(result.summary())
    for item in result.renamed:
        rename(item)
    for problem in result.rejected:
        click.echo(f"  refusé — {problem}", err=True)
    for problem in result.warnings:
        click.echo(f"  attention — {problem}", err=True)


def answer(found: dict, lon, lat) -> None:
    """A lookup answer as text: the point and its territory, the competent CMP, then each kind."""
    for warning in found["warnings"]:
        click.secho(f"! {warning['message']}", fg="yellow")
    units = ", ".join(f"{u['name']} ({u['code']})" for u in found["territory"]["units"])
    click.echo(f"Point {lon}, {lat} — {units or 'hors référentiel'} — au {found['as_of']}")
    for c in found.get("competent_cmp", []):
        site = c["site"]
        click.echo(f"{c['label']} : {site['name']}"
                   + "".join(f", {v}" for v in (site.get("address"), site.get("phone")) if v))
    for kind in found["kinds"]:
        click.secho(f"\n{kind['label']}", bold=True)
        for entry in kind["partners"]:
            p = entry["partner"]
            why = entry.get("matched_part", {}).get("label") or (f"à {entry['distance_m']} m" if "distance_m" in entry else "")
            sector = {"adulte": " — CMP du secteur adulte", "enfant": " — CMP du secteur enfants"}.get(
                entry.get("in_sector"), " — hors secteur" if "in_sector" in entry else "")
            click.echo(f"  • {p['name']} — {why}{sector}")
            if entry.get("restriction"):
                click.echo(f"    {entry['restriction']['message']}")
            for c in p["contacts"][:2]:
                click.echo(f"    {c['label']} : " + " · ".join(x for x in (c["phone"], c["email"], c["url"]) if x))
        for entry in kind["upcoming"] + kind["unavailable"]:
            click.echo(f"  ◦ {entry['partner']['name']} — {entry['state_label']}. {entry.get('message', '')}")
        if kind["message"]:
            click.echo(f"  {kind['message']}")
        if kind.get("if_none"):
            click.echo(f"  → {kind['if_none']}")
        if kind.get("to_confirm"):
            click.secho(f"  ⚠ {kind['to_confirm']['message']}", fg="yellow")
            for alt in kind["to_confirm"]["alternatives"]:
                click.echo(f"    ou : {alt['partner']['name']}")


def geocoding(geo: dict) -> None:
    if geo["message"]:
        click.secho(geo["message"], fg="yellow" if geo["status"] == "found" else "red")
    for warning in geo["warnings"]:
        click.secho(f"! {warning['message']}", fg="yellow")
    shown = [geo["best"]] if geo["best"] else geo["candidates"]
    for c in shown:
        prefix = "Adresse retenue" if geo["best"] else "  ?"
        precision = GEOCODING_PRECISION_LABELS.get(c["level"], c["level_label"])
        click.echo(f"{prefix} : {c['label']} ({precision}, ressemblance {french.percent(c['score'], 0)})"
                   + (f" — {c['note']}" if c.get("note") else ""))


def candidates(result: dict) -> None:
    """Geocoding candidates, best first, with their level and score."""
    if result["message"]:
        click.echo(result["message"])
    for warning in result["warnings"]:
        click.secho(f"! {warning['message']}", fg="yellow")
    for c in result["candidates"]:
        click.echo(f"{french.percent(c['score'], 0):>6}  {c['level_label']:8}  {c['label']}  "
                   f"({french.number(c['lon'], 5)}, {french.number(c['lat'], 5)}, INSEE {c['code_insee']})")


def gaps(matrix, comparison, written) -> None:
    """The gap analysis in a few lines per kind (and per EPT, EPCI or département with
    `--level ept|epci|departement`), and the files written."""
    from app.gaps import GROUPING_LABELS, group_summaries
    from app.gaps import exports as gap_exports

    communes = all(u.code.startswith(("commune:", "arrondissement:")) for u in matrix.units)
    what = french.plural(len(matrix.units), "commune", "communes") if communes else \
        french.plural(len(matrix.units), "unité", "unités")
    click.echo(f"{matrix.territory_name} : {what}, {french.number(matrix.population)} habitants, "
               f"situation au {french.date(matrix.as_of)}")
    _gap_items(gap_exports.summaries(matrix), "  ")
    if matrix.group_level:
        click.echo(f"  Par {GROUPING_LABELS[matrix.group_level]} :")
        for group in group_summaries(matrix):
            click.echo(f"    {group['name']}{' (' + group['code'] + ')' if group['code'] else ''} : "
                       f"{french.plural(group['units'], 'commune', 'communes')}, "
                       f"{french.number(group['population'])} habitants")
            _gap_items(group["items"], "      ")
    if comparison is not None:
        click.echo(f"  Évolution depuis le {french.date(comparison.date_a)} : "
                   f"{french.plural(len(comparison.partners), 'partenaire change', 'partenaires changent')} d'état, "
                   f"{french.plural(len(comparison.units), 'couverture de commune change', 'couvertures de commune changent')}")
    for path in written:
        click.echo(f"  → {path}")


def _gap_items(items: list[dict], indent: str) -> None:
    for item in items:
        if item["mode"] == "territorial":
            click.echo(f"{indent}{item['label']} : "
                       f"{french.plural(item['communes_sans_offre'], 'commune', 'communes')} sans offre, "
                       f"{french.plural(item['communes_partagees'], 'partagée', 'partagées')} entre plusieurs partenaires, "
                       f"{french.number(item['communes_chevauchement'])} avec plusieurs partenaires (chevauchement), "
                       f"{french.plural(item['communes_non_inventoriees'], 'non inventoriée', 'non inventoriées')}")
        elif "distance_mediane_m" in item:
            click.echo(f"{indent}{item['label']} : type de proximité (pas de zone de compétence à compter) — distance "
                       f"médiane au site le plus proche {french.number(item['distance_mediane_m'] / 1000, 1)} km"
                       + (f", {french.number(item['places_pour_100k'], 1)} places pour 100 000 hab."
                          if item.get("places_pour_100k") is not None else ""))
        else:
            click.echo(f"{indent}{item['label']} : type de proximité, aucun site en service : pas de distance calculable")
