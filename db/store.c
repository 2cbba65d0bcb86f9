/*
 * store.c: the SQLite file: opening connections with the right pragmas, the
 * "core" schema and its forward migrations, the reader pool and the
 * per-connection statement cache. Owns no room logic; never starts threads.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/* The "core" schema, one step per version. Never edit a released step: add one.
 *
 * events.pos is the stream position and the event's storage ID at once.
 * events.skel is the signed PDU without "content"; content is kept once, in
 * events.content (canonical JSON), so rows are not stored twice.
 * cur_state.nid is the interned (room, type, state_key): state groups use it.
 * event_edges is keyed by the child so that inserts append (a key by the
 * random prev_id costs one random page per event); federation, which needs
 * the children of an event, adds an index on prev_id in its migration. */
static const char *const core_steps[] = {
	"CREATE TABLE rooms(nid INTEGER PRIMARY KEY, room_id TEXT NOT NULL UNIQUE,"
	" version TEXT NOT NULL, creator TEXT NOT NULL, create_pos INTEGER NOT NULL,"
	" public INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE events(pos INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,"
	" room_nid INTEGER NOT NULL, type TEXT NOT NULL, state_key TEXT, sender TEXT NOT NULL,"
	" ts INTEGER NOT NULL, depth INTEGER NOT NULL, sg INTEGER NOT NULL, redacts TEXT,"
	" redacted_by TEXT, txn_id TEXT, content TEXT NOT NULL, skel TEXT NOT NULL);"
	"CREATE INDEX events_room ON events(room_nid, pos);"
	"CREATE TABLE event_edges(pos INTEGER NOT NULL, prev_id TEXT NOT NULL,"
	" PRIMARY KEY(pos, prev_id)) WITHOUT ROWID;"
	"CREATE TABLE extremities(room_nid INTEGER NOT NULL, event_id TEXT NOT NULL,"
	" PRIMARY KEY(room_nid, event_id)) WITHOUT ROWID;"
	"CREATE TABLE cur_state(nid INTEGER PRIMARY KEY, room_nid INTEGER NOT NULL,"
	" type TEXT NOT NULL, state_key TEXT NOT NULL, pos INTEGER NOT NULL,"
	" UNIQUE(room_nid, type, state_key));"
	"CREATE TABLE state_groups(sg INTEGER PRIMARY KEY, room_nid INTEGER NOT NULL,"
	" parent INTEGER NOT NULL, base INTEGER NOT NULL, depth INTEGER NOT NULL);"
	"CREATE TABLE state_deltas(sg INTEGER NOT NULL, key_nid INTEGER NOT NULL,"
	" pos INTEGER NOT NULL, PRIMARY KEY(sg, key_nid)) WITHOUT ROWID;"
	"CREATE TABLE changes(seq INTEGER PRIMARY KEY, room_nid INTEGER NOT NULL,"
	" room_seq INTEGER NOT NULL, pos INTEGER NOT NULL, prev_pos INTEGER, cause INTEGER NOT NULL);"
	"CREATE UNIQUE INDEX changes_room ON changes(room_nid, room_seq);"
	"CREATE TABLE memberships(user_id TEXT NOT NULL, room_nid INTEGER NOT NULL,"
	" membership TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY(user_id, room_nid)) WITHOUT ROWID;"
	"CREATE INDEX memberships_room ON memberships(room_nid, membership);"
	"CREATE TABLE txns(sender TEXT NOT NULL, room_nid INTEGER NOT NULL, txn_id TEXT NOT NULL,"
	" pos INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(sender, room_nid, txn_id)) WITHOUT ROWID;"
	"CREATE TABLE aliases(alias TEXT PRIMARY KEY, room_id TEXT NOT NULL, creator TEXT) WITHOUT ROWID;",
	/* Client-format reads find the version a state event replaced by its pos. */
	"CREATE INDEX changes_pos ON changes(pos);",
	/* An outlier is an event stored without the state before it (given by
	 * a send_join answer as state or auth chain): found by ID, perhaps in
	 * the current state, but in no timeline, and no state is answered at
	 * it. Its sg is the state after it when that is known (the single prev
	 * event of our join), else 0. */
	"ALTER TABLE events ADD COLUMN outlier INTEGER NOT NULL DEFAULT 0;",
};

mxdb_status store_fail(store_conn *c, mxdb_error *err, const char *what)
{
	return mx_fail(err, MXDB_EIO, "%s: %s", what, c && c->db ? sqlite3_errmsg(c->db) : "no db");
}

char *store_col_str(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? strdup((const char *)t) : NULL;
}

static void stmt_finalize(void *p)
{
	sqlite3_finalize(p);
}

sqlite3_stmt *store_stmt(store_conn *c, const char *sql, mxdb_error *err)
{
	sqlite3_stmt *st = map_get(c->stmts, (const char *)&sql, sizeof(sql));
	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		store_fail(c, err, "prepare");
		return NULL;
	}
	if (map_put(c->stmts, (const char *)&sql, sizeof(sql), st, NULL) != 0) {
		sqlite3_finalize(st);
		mx_fail(err, MXDB_ENOMEM, "statement cache");
		return NULL;
	}
	return st;
}

mxdb_status store_exec(store_conn *c, const char *sql, mxdb_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		mxdb_status s = mx_fail(err, MXDB_EIO, "%.60s: %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return s;
	}
	return MXDB_OK;
}

mxdb_status store_run(store_conn *c, const char *sql, mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(c, sql, err);
	if (st == NULL)
		return MXDB_EIO;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(c, err, sql);
}

static mxdb_status conn_open(store_conn *c, const char *path, const char *pragmas, mxdb_error *err)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->stmts = map_new(64);
	if (c->stmts == NULL)
		return mx_fail(err, MXDB_ENOMEM, "statement cache");
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK)
		return store_fail(c, err, path);
	/* Other modules (accounts) write the same file from their own connection. */
	sqlite3_busy_timeout(c->db, 10000);
	return store_exec(c, pragmas, err);
}

static void conn_close(store_conn *c)
{
	if (c->stmts != NULL)
		map_free(c->stmts, stmt_finalize);
	c->stmts = NULL;
	if (c->db != NULL)
		sqlite3_close(c->db);
	c->db = NULL;
	pthread_mutex_destroy(&c->lock);
}

mxdb_status store_migrate(sqlite3 *db, const char *module, const char *const *steps, int n,
                          mxdb_error *err)
{
	store_conn c = {.db = db};
	mxdb_status s = store_exec(&c, "CREATE TABLE IF NOT EXISTS schema_versions("
	                               "module TEXT PRIMARY KEY, version INTEGER NOT NULL)", err);
	if (s == MXDB_OK)
		s = store_exec(&c, "BEGIN IMMEDIATE", err);
	if (s != MXDB_OK)
		return s;
	sqlite3_stmt *st = NULL;
	int version = 0;
	if (sqlite3_prepare_v2(db, "SELECT version FROM schema_versions WHERE module = ?", -1, &st,
	                       NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > n) {
		store_exec(&c, "ROLLBACK", NULL);
		return mx_fail(err, MXDB_EVERSION, "schema %s is version %d, newer than this build (%d)",
		               module, version, n);
	}
	for (int i = version; i < n; i++)
		if ((s = store_exec(&c, steps[i], err)) != MXDB_OK)
			goto fail_s;
	if (version < n) {
		if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO schema_versions VALUES (?, ?)", -1, &st,
		                       NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_text(st, 1, module, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, n);
		int rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	return store_exec(&c, "COMMIT", err);
fail:
	s = store_fail(&c, err, "migrate");
fail_s:
	store_exec(&c, "ROLLBACK", NULL);
	return s;
}

mxdb_status store_open(const char *path, int full_sync, int n_readers, store **out,
                       mxdb_error *err)
{
	store *s = calloc(1, sizeof(*s));
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		free(s);
		return mx_fail(err, MXDB_ENOMEM, "store");
	}
	/* Pages are read through a shared memory map (the OS page cache, no
	 * copy per connection); writes still go through the WAL. The WAL is
	 * checkpointed every 8,000 pages: hot pages are copied back once per
	 * checkpoint instead of once per 1,000 pages. */
	mxdb_status rc = conn_open(&s->writer, path,
	                           full_sync ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                                       "PRAGMA cache_size=-32000; PRAGMA wal_autocheckpoint=8000;"
	                                       "PRAGMA mmap_size=2147418112;"
	                                     : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                                       "PRAGMA cache_size=-32000; PRAGMA wal_autocheckpoint=8000;"
	                                       "PRAGMA mmap_size=2147418112;",
	                           err);
	if (rc == MXDB_OK)
		rc = store_migrate(s->writer.db, "core", core_steps,
		                   (int)(sizeof(core_steps) / sizeof(core_steps[0])), err);
	if (rc == MXDB_OK && (s->readers = calloc((size_t)n_readers, sizeof(store_conn))) == NULL)
		rc = mx_fail(err, MXDB_ENOMEM, "readers");
	for (int i = 0; rc == MXDB_OK && i < n_readers; i++) {
		s->n_readers++;
		rc = conn_open(&s->readers[i], path,
		               "PRAGMA query_only=1; PRAGMA cache_size=-8000; PRAGMA mmap_size=2147418112;",
		               err);
	}
	if (rc != MXDB_OK) {
		store_close(s);
		return rc;
	}
	*out = s;
	return MXDB_OK;
}

void store_close(store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < s->n_readers; i++)
		conn_close(&s->readers[i]);
	free(s->readers);
	conn_close(&s->writer);
	free(s->path);
	free(s);
}

store_conn *store_reader(store *s)
{
	/* Spread threads over the pool; take a free one when the own slot is busy. */
	static _Thread_local unsigned slot;
	if (slot == 0)
		slot = (unsigned)(uintptr_t)&slot >> 6;
	for (int i = 0; i < s->n_readers; i++) {
		store_conn *c = &s->readers[(slot + (unsigned)i) % (unsigned)s->n_readers];
		if (pthread_mutex_trylock(&c->lock) == 0)
			return c;
	}
	store_conn *c = &s->readers[slot % (unsigned)s->n_readers];
	pthread_mutex_lock(&c->lock);
	return c;
}

void store_release(store_conn *c)
{
	pthread_mutex_unlock(&c->lock);
}
