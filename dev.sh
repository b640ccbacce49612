#!/usr/bin/env bash
# Maillage developer entry point. Works as root on a fresh Debian 12 machine.
#
#   bash dev.sh demo    set everything up, build the demo database, serve http://127.0.0.1:5000
#   bash dev.sh test    set everything up, run the whole test suite (SpatiaLite and PostGIS)
#   bash dev.sh setup   set up the system packages and the virtualenvs only
#   bash dev.sh addok   set up the self-hosted addok's virtualenv (.venv-addok) only
#
# Environment: PYTHON (interpreter for the virtualenv, default python3), HOST/PORT for `demo`,
# DATABASE_URL (default: the SpatiaLite file var/maillage.sqlite).
set -euo pipefail
cd "$(dirname "$0")"
ROOT="$(pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs a long step (a compilation of minutes) saying every 15 s that it is still at work, so a
# silent terminal is never taken for a hung one. Returns the step's own status.
with_progress() {
    local what="$1" started=$SECONDS pid status
    shift
    log "$what"
    "$@" &
    pid=$!
    local next=15
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if [ $((SECONDS - started)) -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
            printf '    … %s : toujours en cours (%d s)\n' "$what" $((SECONDS - started)) >&2
            next=$((next + 15))
        fi
    done
    status=0
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] && printf '    %s : terminé en %d s\n' "$what" $((SECONDS - started)) >&2
    return "$status"
}

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "apt-get install ${missing[*]}"
        if [ "$(id -u)" -ne 0 ]; then
            echo "Paquets système manquants (${missing[*]}) : relancer en root ou les installer." >&2
            exit 1
        fi
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

system_packages() {
    # python3-dev, build-essential, libsqlite3-dev, libproj-dev: pysqlite3 and pyproj are
    # compiled against the system SQLite and PROJ, the ones Debian's mod_spatialite uses.
    # libpango, libharfbuzz-subset and a font: WeasyPrint's PDF of the fiche d'orientation.
    apt_install ca-certificates python3 python3-venv python3-dev build-essential \
        libsqlite3-dev libproj-dev proj-bin libsqlite3-mod-spatialite \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
    if [ "${1:-}" = "test" ]; then
        # redis-server: the tests start their own, for a real addok (tests/test_geocoding_addok.py)
        apt_install postgresql-15 postgresql-15-postgis-3 chromium redis-server
        # Node.js and npm: the OpenID Connect provider the single sign-on tests start (tests/oidc/);
        # only when missing, so a Node.js from elsewhere (which bundles npm) is kept
        if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
            apt_install nodejs npm
        fi
    fi
}

# tests/oidc/: the oidc-provider package at the versions of its package-lock.json (npm ci),
# reinstalled when that file changes.
oidc_provider() {
    local dir="$ROOT/tests/oidc" want
    want="$(cat "$dir/package-lock.json")"
    if [ ! -f "$dir/node_modules/.maillage-installed" ] || [ "$(cat "$dir/node_modules/.maillage-installed")" != "$want" ]; then
        with_progress "oidc-provider (npm ci dans tests/oidc)" \
            npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
        printf '%s' "$want" > "$dir/node_modules/.maillage-installed"
    fi
}

# addok (the national BAN service's engine) in its own virtualenv, exact pins, for the self-hosted
# `ban-api` geocoder's tests and benchmarks (docs/addok.md); rebuilt when its lock file changes.
ADDOK_VENV="$ROOT/.venv-addok"
addok_virtualenv() {
    local stamp="$ADDOK_VENV/.maillage-installed" want
    want="$(cat requirements-addok.lock)"
    if [ ! -x "$ADDOK_VENV/bin/python" ]; then
        log "virtualenv $ADDOK_VENV"
        "$PYTHON" -m venv "$ADDOK_VENV"
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "pip install addok (versions figées)"
        with_progress "addok (versions figées) dans $ADDOK_VENV" \
            "$ADDOK_VENV/bin/python" -m pip install -q --no-deps -r requirements-addok.lock
        printf '%s' "$want" > "$stamp"
    fi
}

# What the virtualenv is built from: it is rebuilt when this changes.
lock_digest() {
    cat requirements-build.lock requirements.lock pyproject.toml
    # an `if`, not `[ … ] && cat`: under set -e a false test as the substitution's last command
    # ends the script silently — it did, for `dev.sh demo` (tests/test_docs.py guards it)
    if [ "${1:-}" = "test" ]; then cat requirements-dev.lock; fi
}

virtualenv() {
    local stamp="$VENV/.maillage-installed" want
    want="$(lock_digest "${1:-}")"
    if [ ! -x "$VENV/bin/python" ]; then
        log "virtualenv $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "pip install (versions figées) dans $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade "pip==26.3"
        with_progress "outils de construction (requirements-build.lock)" \
            "$VENV/bin/python" -m pip install -q --no-deps -r requirements-build.lock
        # --no-cache-dir: pip reuses a wheel it built earlier even under --no-binary, and a pyproj
        # wheel cached from a build with another Cython fails at run time ("expected bytes, str found").
        with_progress "dépendances, dont pyproj et pysqlite3 compilés sur le PROJ et le SQLite du système (1 à 2 minutes)" \
            env PROJ_DIR=/usr "$VENV/bin/python" -m pip install -q --no-cache-dir --no-deps --no-build-isolation \
            -r requirements.lock
        "$VENV/bin/python" -c "import pyproj, pysqlite3; pyproj.CRS('EPSG:2154')" || {
            echo "pyproj ou pysqlite3 mal construit : supprimer $VENV et relancer." >&2; exit 1; }
        if [ "${1:-}" = "test" ]; then
            with_progress "outils de test (requirements-dev.lock)" \
                "$VENV/bin/python" -m pip install -q --no-deps -r requirements-dev.lock
        fi
        "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
        printf '%s' "$want" > "$stamp"
    fi
}

# PostgreSQL for the PostGIS half of the suite: use the server on 127.0.0.1:5432, or start the
# local Debian cluster when none answers (a fresh laptop). Tests connect as a dedicated role and
# create (and drop) a throwaway database per run.
postgres() {
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        log "démarrage du cluster PostgreSQL local"
        local version
        version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
        if [ -z "$version" ]; then
            echo "Aucun cluster PostgreSQL trouvé dans /etc/postgresql." >&2
            exit 1
        fi
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
    local sql="DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'maillage_test') THEN
        CREATE ROLE maillage_test LOGIN SUPERUSER PASSWORD 'maillage_test';
      END IF; END \$\$;"
    if ! psql -q -h 127.0.0.1 -U postgres -d postgres -c "$sql" >/dev/null 2>&1; then
        runuser -u postgres -- psql -q -d postgres -c "$sql" >/dev/null
    fi
    export MAILLAGE_TEST_POSTGRES_URL="${MAILLAGE_TEST_POSTGRES_URL:-postgresql+psycopg://maillage_test:maillage_test@127.0.0.1:5432/postgres}"
}

cmd="${1:-}"
shift || true
case "$cmd" in
    setup)
        system_packages test
        virtualenv test
        addok_virtualenv
        oidc_provider
        ;;
    addok)
        # the self-hosted addok's virtualenv only (docs/addok.md)
        addok_virtualenv
        ;;
    demo)
        system_packages
        virtualenv
        log "base de démonstration"
        "$VENV/bin/maillage" demo
        # Address-level geocoding in the demo: the BAN addresses of Bondy, when the shared data set
        # sits beside the clone (otherwise addresses resolve to their commune).
        ban_file="${MAILLAGE_DEMO_BAN:-$ROOT/../shared/data/ban-adresses-93010-bondy.csv}"
        if [ -f "$ban_file" ]; then
            "$VENV/bin/maillage" import ban "$ban_file"
        fi
        exec "$VENV/bin/maillage" serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
        ;;
    test)
        system_packages test
        virtualenv test
        addok_virtualenv
        oidc_provider
        postgres
        log "pytest"
        export MAILLAGE_CHROMIUM="${MAILLAGE_CHROMIUM:-/usr/bin/chromium}"
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    lock-digest)
        # internal: what `setup`/`demo`/`test` compare with the installed virtualenv
        lock_digest "${1:-}"
        ;;
    *)
        sed -n '2,13p' "$0"
        exit 2
        ;;
esac
