"""Per-engine caches of the geocoder's in-memory indexes, refreshed without making requests wait.

A request never queries the database to learn whether an index is stale: the version (a meta
key) is read at most every VERSION_CHECK_S seconds per engine. When it changed, the index is
rebuilt in a background thread and requests keep the previous one until the new one is swapped
in; only the very first build of a process waits (the server builds it before it listens: see
`app.geocoding.warm`). A write committed by this process marks the caches of its engine stale, so
the next search checks the version at once and rebuilds in place (an import followed by a search
in one process sees its addresses). A session bound to an explicit connection (someone's
transaction: imports, tests) always reads the version, and a session that wrote gets a private
build, never shared.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app import db

VERSION_CHECK_S = 2.0
log = logging.getLogger("maillage.geocoding")


class _Slot:
    def __init__(self):
        self.obj = None
        self.checked_at = 0.0
        self.stale = False
        self.building = False
        self.lock = threading.Lock()


class VersionedCache:
    def __init__(self, name: str, read_version, build):
        self.name = name
        self.read_version = read_version  # session -> version token
        self.build = build  # (session, version) -> object with a `version` attribute
        self._slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        _CACHES.add(self)

    def _slot(self, engine) -> _Slot:
        # Keyed on the connection pool: the request sessions' engine is an execution-options copy
        # of the application's (app.db.read_session_factory), the pool is the same.
        slot = self._slots.get(engine.pool)
        if slot is None:
            slot = self._slots.setdefault(engine.pool, _Slot())
        return slot

    def get(self, session: Session):
        if db.session_wrote(session):
            return self.build(session, self.read_version(session))
        engine = db.engine_of(session)
        slot = self._slot(engine)
        explicit = isinstance(session.bind, Connection)
        now = time.monotonic()
        obj = slot.obj
        if obj is not None and not slot.stale and not explicit and now - slot.checked_at < VERSION_CHECK_S:
            return obj
        version = self.read_version(session)
        if explicit:
            if obj is not None and obj.version == version:
                return obj
            return self.build(session, version)  # maybe uncommitted data: not shared
        slot.checked_at = now
        if obj is not None and obj.version == version:
            slot.stale = False
            return obj
        if obj is None or slot.stale:
            slot.stale = False
            with slot.lock:
                if slot.obj is None or slot.obj.version != version:
                    slot.obj = self.build(session, version)
            return slot.obj
        self._rebuild_in_background(engine, slot)
        return obj

    def _rebuild_in_background(self, engine, slot: _Slot) -> None:
        with slot.lock:
            if slot.building:
                return
            slot.building = True

        engine_ref = weakref.ref(engine)

        def work():
            try:
                engine = engine_ref()
                if engine is None:
                    return
                with db.read_session_factory(engine)() as session:
                    version = self.read_version(session)
                    slot.obj = self.build(session, version)
            except Exception:  # noqa: BLE001 — keep serving the previous index; never log data
                log.exception("géocodage : reconstruction de l'index %s impossible", self.name)
            finally:
                slot.building = False

        threading.Thread(target=work, name=f"maillage-{self.name}-index", daemon=True).start()

    def warm(self, engine) -> object:
        """Build (or refresh) the index of this engine now: a server does it before it listens."""
        slot = self._slot(engine)
        with db.read_session_factory(engine)() as session:
            version = self.read_version(session)
            if slot.obj is None or slot.obj.version != version:
                slot.obj = self.build(session, version)
            slot.checked_at = time.monotonic()
            slot.stale = False
        return slot.obj

    def mark_stale(self, engine) -> None:
        slot = self._slots.get(engine.pool)
        if slot is not None:
            slot.stale = True


_CACHES: weakref.WeakSet = weakref.WeakSet()


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    if db.session_wrote(session):
        try:
            engine = db.engine_of(session)
        except Exception:  # noqa: BLE001 — a session without a bind: nothing cached for it
            return
        for cache in list(_CACHES):
            cache.mark_stale(engine)
