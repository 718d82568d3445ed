"""change sets: every write belongs to one, and the change feed keeps each cell's previous value

A change set is one user-visible write: an applied proposal, a manual cell edit, a fill job, an import,
a revert. The writer names it for its transaction (`SET LOCAL tablechat.change_set = '<id>'`,
db/change_sets.py) and the feed triggers copy it into every `changes` row they write; a fill's cells
carry their job id in their state (`meta.<column>.j`), and the job id is its change set, so the workers'
autocommit writes need no setting. The feed keeps what each write replaced (`changes.prev`): a cell's
previous value (SQL NULL when only its state changed), a deleted row's values and states, a column's or a
table's previous definition. With that the feed is the version history of every cell and the material
of a revert, without a second write path.

`ai_runs` keeps the user message as sent and the raw answer of each call (the provenance of AI cells).

Revision ID: 0012
Revises: 0010
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

APP_ROLE = "tablechat_app"
SMALL_UPDATE = 500  # as in revision 0009

SETTING = "nullif(current_setting('tablechat.change_set', true), '')::uuid"

TABLES = rf"""
CREATE TABLE change_sets (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  workspace_id uuid NOT NULL,
  table_id uuid,
  kind varchar(20) NOT NULL,
  actor jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  summary text NOT NULL DEFAULT '',
  counts jsonb NOT NULL DEFAULT '{{}}'::jsonb,
  proposal_id uuid,
  reverts uuid,
  reverted_by uuid,
  base_seq bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_change_sets PRIMARY KEY (id),
  CONSTRAINT fk_change_sets_workspace_id_workspaces FOREIGN KEY (workspace_id)
    REFERENCES workspaces (id) ON DELETE CASCADE
);
CREATE INDEX ix_change_sets_table ON change_sets (table_id, created_at DESC);
CREATE INDEX ix_change_sets_proposal ON change_sets (proposal_id) WHERE proposal_id IS NOT NULL;

ALTER TABLE change_sets ENABLE ROW LEVEL SECURITY;
ALTER TABLE change_sets FORCE ROW LEVEL SECURITY;
-- like the tables of 0011: every member reads a workspace's history, owners and editors write it
CREATE POLICY isolation ON change_sets FOR SELECT USING (workspace_id IN (SELECT tc_my_workspaces()));
CREATE POLICY writers_insert ON change_sets FOR INSERT WITH CHECK (tc_can_write(workspace_id));
CREATE POLICY writers_update ON change_sets FOR UPDATE USING (tc_can_write(workspace_id))
  WITH CHECK (tc_can_write(workspace_id));
CREATE POLICY writers_delete ON change_sets FOR DELETE USING (tc_can_write(workspace_id));
CREATE POLICY system ON change_sets TO tablechat_system USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON change_sets TO {APP_ROLE};

ALTER TABLE changes ADD COLUMN change_set uuid, ADD COLUMN prev jsonb;
CREATE INDEX ix_changes_record_history ON changes (record_id, seq) WHERE record_id IS NOT NULL;

ALTER TABLE ai_runs ADD COLUMN request text, ADD COLUMN answer text;
"""

CELL_FEED = """
  INSERT INTO changes (table_id, workspace_id, kind, op, record_id, column_id, data, change_set, prev)
  SELECT n.table_id, n.workspace_id, 'cell', 'update', n.id, k.key::uuid,
         jsonb_build_object(
           'value', n.data -> k.key,
           'version', coalesce((n.meta -> k.key ->> 'v')::int, 0),
           'status', coalesce(n.meta -> k.key ->> 's', 'idle'),
           'error', n.meta -> k.key -> 'e',
           'pinned', coalesce((n.meta -> k.key ->> 'p')::boolean, false)),
         coalesce(CS, (coalesce(o.meta -> k.key ->> 'j', n.meta -> k.key ->> 'j'))::uuid),
         CASE WHEN n.data -> k.key IS DISTINCT FROM o.data -> k.key
              THEN coalesce(o.data -> k.key, 'null'::jsonb) END
  FROM new_rows n
  JOIN old_rows o ON o.id = n.id
  CROSS JOIN LATERAL jsonb_object_keys(CASE WHEN n.data = o.data THEN n.meta || o.meta
    WHEN n.meta = o.meta THEN n.data || o.data ELSE n.data || n.meta || o.data || o.meta END) AS k(key)
  WHERE (n.data -> k.key, n.meta -> k.key) IS DISTINCT FROM (o.data -> k.key, o.meta -> k.key)
  ORDER BY n.id, k.key"""

TRIGGERS = rf"""
CREATE OR REPLACE FUNCTION tc_records_updated() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET jit = off AS $$
DECLARE cs uuid := {SETTING};
BEGIN
  PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM new_rows ORDER BY 1) s;
  IF (SELECT count(*) FROM new_rows) <= {SMALL_UPDATE} THEN
{CELL_FEED.replace("CS", "cs")};
  ELSE
  EXECUTE $q${CELL_FEED.replace("CS", "$1")}
  $q$ USING cs;
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tc_records_inserted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET jit = off AS $$
BEGIN
  PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM new_rows ORDER BY 1) s;
  INSERT INTO changes (table_id, workspace_id, kind, op, record_id, change_set)
  SELECT table_id, workspace_id, 'record', 'insert', id, {SETTING} FROM new_rows ORDER BY id;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tc_records_deleted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET jit = off AS $$
DECLARE cs uuid := {SETTING};
BEGIN
  -- rows removed because their whole table was deleted are covered by the table's own change
  PERFORM tc_feed_lock(t) FROM (SELECT DISTINCT table_id AS t FROM old_rows ORDER BY 1) s;
  EXECUTE $q$
  INSERT INTO changes (table_id, workspace_id, kind, op, record_id, change_set, prev)
  SELECT o.table_id, o.workspace_id, 'record', 'delete', o.id, $1,
         jsonb_build_object('data', o.data, 'meta', o.meta)
  FROM old_rows o
  WHERE EXISTS (SELECT 1 FROM data_tables d WHERE d.id = o.table_id)
  ORDER BY o.id
  $q$ USING cs;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tc_table_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET jit = off AS $$
DECLARE r data_tables;
BEGIN
  r := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  PERFORM tc_feed_lock(r.id);
  INSERT INTO changes (table_id, workspace_id, kind, op, data, change_set, prev)
  VALUES (r.id, r.workspace_id, 'table', lower(TG_OP),
          jsonb_build_object('name', r.name, 'description', r.description), {SETTING},
          CASE WHEN TG_OP = 'UPDATE' THEN jsonb_build_object('name', OLD.name, 'description', OLD.description)
          END);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION tc_column_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET jit = off AS $$
DECLARE c columns;
BEGIN
  c := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM data_tables d WHERE d.id = c.table_id) THEN
    RETURN NULL;
  END IF;
  PERFORM tc_feed_lock(c.table_id);
  INSERT INTO changes (table_id, workspace_id, kind, op, column_id, data, change_set, prev)
  VALUES (c.table_id, c.workspace_id, 'column', lower(TG_OP), c.id,
          CASE WHEN TG_OP = 'DELETE' THEN NULL
               ELSE to_jsonb(c) - 'workspace_id' - 'table_id' - 'created_at' END,
          {SETTING},
          CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'workspace_id' - 'table_id' - 'created_at' END);
  RETURN NULL;
END $$;
"""


# a fill job (mode `write`) is a change set of its own, with the job's id: its cells carry that id while
# they are worked on, so the workers' writes are tagged without a setting
JOB_CHANGE_SET = r"""
CREATE FUNCTION tc_job_change_set() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO change_sets (id, workspace_id, table_id, kind, actor, summary, base_seq)
  VALUES (NEW.id, NEW.workspace_id, NEW.table_id, 'fill',
          jsonb_strip_nulls(jsonb_build_object('kind', 'ai', 'column_id', NEW.column_id, 'job_id', NEW.id,
            'thread_id', NEW.thread_id, 'reason', NEW.reason,
            'account_id', nullif(current_setting('app.account_id', true), ''))),
          'AI fill of ' || coalesce((SELECT '"' || name || '"' FROM columns WHERE id = NEW.column_id), 'a column'),
          coalesce((SELECT max(seq) FROM changes WHERE table_id = NEW.table_id), 0))
  ON CONFLICT (id) DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_change_set AFTER INSERT ON jobs FOR EACH ROW WHEN (NEW.mode = 'write')
  EXECUTE FUNCTION tc_job_change_set();
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(TRIGGERS)
    op.execute(JOB_CHANGE_SET)


def _previous(name: str) -> object:
    """An earlier revision's module, for its function bodies."""
    import importlib.util
    from pathlib import Path

    path = next(Path(__file__).parent.glob(f"{name}_*.py"))
    spec = importlib.util.spec_from_file_location(f"_rev_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def previous_triggers() -> list[str]:
    """The feed triggers as they were before this revision (0002, 0005, 0009): for the downgrade, and for
    `make bench`, which times writes without history against writes with it."""
    rev2, rev5, rev9 = _previous("0002"), _previous("0005"), _previous("0009")
    # the 0002 bodies of the insert, table and column triggers, as CREATE OR REPLACE
    old = rev2.FEED_SQL.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")  # type: ignore[attr-defined]
    keep = ("OR REPLACE FUNCTION tc_records_inserted", "OR REPLACE FUNCTION tc_table_changed",
            "OR REPLACE FUNCTION tc_column_changed")
    out = ["CREATE " + part for part in old.split("\nCREATE ") if part.startswith(keep)]
    out.append(rev5.TRIGGERS)  # type: ignore[attr-defined]  # the delete trigger (and an update one, replaced below)
    feed = rev9.FEED_INSERT.format(keys=rev9.CHANGED_KEYS)  # type: ignore[attr-defined]
    out.append(rev9._function(f"""
  IF (SELECT count(*) FROM new_rows) <= {SMALL_UPDATE} THEN
{feed};
  ELSE
  EXECUTE $q${feed}
  $q$;
  END IF;"""))  # type: ignore[attr-defined]
    out += [f"ALTER FUNCTION {fn}() SET jit = off" for fn in ("tc_records_inserted", "tc_records_updated",
                                                               "tc_records_deleted", "tc_table_changed",
                                                               "tc_column_changed")]
    return out


def downgrade() -> None:
    for statement in previous_triggers():
        op.execute(statement)
    op.execute("DROP TRIGGER jobs_change_set ON jobs")
    op.execute("DROP FUNCTION tc_job_change_set()")
    op.execute("ALTER TABLE ai_runs DROP COLUMN request, DROP COLUMN answer")
    op.execute("DROP INDEX ix_changes_record_history")
    op.execute("ALTER TABLE changes DROP COLUMN change_set, DROP COLUMN prev")
    op.execute("DROP TABLE change_sets")
