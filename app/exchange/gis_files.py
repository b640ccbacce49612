"""Reading and writing GIS files (GeoJSON, shapefile, GeoPackage) with pyogrio.

GeoPackage is an SQLite database, and pyogrio's wheel bundles its own GDAL *and* SQLite. In a
process that has loaded the system SQLite with mod_spatialite (every Maillage process), opening
a GeoPackage with the bundled copy crashes the interpreter (segmentation fault, reproduced with
pyogrio 0.13: two SQLite libraries in one process, as in docs/decisions/0001). GeoPackage files
are therefore converted in a child Python process that never loads SpatiaLite, through a
temporary GeoJSON file. The other formats are read in-process.

Run as `python -m app.exchange.gis_files to-geojson IN OUT [LAYER]` or `from-geojson IN OUT LAYER EPSG [append]` (the
child side; not a user command).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from app.errors import InvalidInput

SQLITE_BASED = (".gpkg", ".sqlite", ".db")
NO_CRS = "NO-CRS"


def read_file(path: Path, *, layer: str | None = None):
    """A GeoDataFrame from any file pyogrio reads; GeoPackages go through a child process.
    Raises InvalidInput with the reader's message when the file cannot be read."""
    import geopandas as gpd
    import pyogrio

    path = Path(path)
    if path.suffix.lower() not in SQLITE_BASED:
        source = f"/vsigzip/{path}" if path.suffix == ".gz" else f"/vsizip/{path}" if path.suffix == ".zip" else path
        try:
            return gpd.read_file(source, layer=layer, engine="pyogrio")
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
            raise InvalidInput(f"Fichier illisible ({path.name}) : {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="maillage-gpkg-") as tmp:
        out = Path(tmp) / "layer.geojson"
        result = _child("to-geojson", str(path), str(out), layer or "")
        gdf = gpd.read_file(out, engine="pyogrio")
    if result.stdout.strip() == NO_CRS:
        gdf = gdf.set_crs(None, allow_override=True)
    return gdf


def layers(path: Path) -> dict[str, dict]:
    """The layers of a GeoPackage (or any file pyogrio reads): name -> {"fields": [...],
    "geometry": type, "count": features}, read in the child process."""
    with tempfile.TemporaryDirectory(prefix="maillage-gpkg-") as tmp:
        out = Path(tmp) / "layers.json"
        _child("layers", str(path), str(out), "")
        return json.loads(out.read_text(encoding="utf-8"))


def write_gpkg(gdf, path: Path, *, layer: str, append: bool = False) -> None:
    """Write a GeoDataFrame as a GeoPackage layer, via the child process: replacing the file, or
    with `append` as one more layer of an existing file."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="maillage-gpkg-") as tmp:
        src = Path(tmp) / "layer.geojson"
        src.write_text(gdf.to_json(drop_id=True), encoding="utf-8")
        geojson_to_gpkg(src, path, layer=layer, epsg=gdf.crs.to_epsg() if gdf.crs else 4326, append=append)


def geojson_to_gpkg(src: Path, path: Path, *, layer: str, epsg: int = 4326, append: bool = False) -> None:
    """Convert a GeoJSON file (written by the caller, possibly streamed) into a GeoPackage layer
    (replacing the file, or beside its other layers with `append`), via the child process."""
    _child("from-geojson", str(src), str(path), layer, str(epsg), *(["append"] if append else []))


def _child(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "app.exchange.gis_files", *args], capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["erreur inconnue"])[-1]
        raise InvalidInput(f"Fichier illisible ({Path(args[1]).name}) : {message}")
    return result


def _main(argv: list[str]) -> int:
    # Child side: only pyogrio/geopandas here, never app.db (no SpatiaLite in this process).
    import geopandas as gpd
    import pyogrio

    command, src, dst, layer, *rest = argv
    try:
        if command == "to-geojson":
            gdf = gpd.read_file(src, layer=layer or None, engine="pyogrio")
            no_crs = gdf.crs is None
            if not no_crs and gdf.crs.to_epsg() != 4326:
                gdf = gdf.to_crs(4326)
            Path(dst).write_text(gdf.to_json(drop_id=True), encoding="utf-8")
            print(NO_CRS if no_crs else "")
        elif command == "from-geojson":
            gdf = gpd.read_file(src, engine="pyogrio")
            gdf = gdf.set_crs(int(rest[0]), allow_override=True)
            if rest[1:] != ["append"]:
                Path(dst).unlink(missing_ok=True)
            gdf.to_file(dst, layer=layer, driver="GPKG", engine="pyogrio")
        elif command == "layers":
            found = {}
            for name, geometry in pyogrio.list_layers(src):
                info = pyogrio.read_info(src, layer=name)
                found[str(name)] = {"fields": [str(f) for f in info["fields"]], "geometry": geometry,
                                    "count": int(info["features"])}
            Path(dst).write_text(json.dumps(found, ensure_ascii=False), encoding="utf-8")
        else:
            print(f"commande inconnue {command}", file=sys.stderr)
            return 2
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError, OSError) as exc:
        print(json.dumps(str(exc), ensure_ascii=False).strip('"'), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
