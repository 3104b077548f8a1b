-- Contact imports: one row per uploaded CSV file, its rows kept until the
-- import is done so a restarted instance can finish it, and the outcome
-- (counts, line-numbered errors, the bad rows as CSV to fix).
CREATE TABLE contact_imports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_by  bigint REFERENCES users(id),
    filename    text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'mapping' CHECK (status IN ('mapping', 'running', 'done', 'failed')),
    header      text[] NOT NULL DEFAULT '{}',
    mapping     jsonb NOT NULL DEFAULT '[]'::jsonb,   -- field per column, "" = ignored
    group_id    bigint REFERENCES groups(id) ON DELETE SET NULL,
    total       integer NOT NULL DEFAULT 0,
    processed   integer NOT NULL DEFAULT 0,            -- bad rows + good rows written
    created     integer NOT NULL DEFAULT 0,
    updated     integer NOT NULL DEFAULT 0,
    unchanged   integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    consents    integer NOT NULL DEFAULT 0,            -- consent events written
    errors      jsonb NOT NULL DEFAULT '[]'::jsonb,    -- [{"line": n, "message": "..."}]
    bad_rows_csv text NOT NULL DEFAULT '',
    error       text NOT NULL DEFAULT '',
    heartbeat_at timestamptz,                          -- the worker's last sign of life
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX contact_imports_created_idx ON contact_imports (created_at DESC, id DESC);

-- The uploaded file's records, deleted when the import ends.
CREATE TABLE contact_import_rows (
    import_id bigint NOT NULL REFERENCES contact_imports(id) ON DELETE CASCADE,
    line      integer NOT NULL,                        -- where the record starts in the file
    cells     text[] NOT NULL,
    PRIMARY KEY (import_id, line)
);
