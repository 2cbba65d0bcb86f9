/*
 * fed_gap.c: the database side of recovering gaps in a room's graph: the
 * extremities a get_missing_events request starts from, and the pending
 * events (received, checked, but with ancestors nobody could give us yet).
 * Pending events are plain rows on the caller's own connection: they are
 * no room events (no position, no state) until the engine ingests them.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fed_gap.h"
#include "store.h"

static const char *const gap_steps[] = {
	"CREATE TABLE fed_pending(event_id TEXT PRIMARY KEY, room_id TEXT NOT NULL,"
	"  pdu TEXT NOT NULL, received_ts INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX fed_pending_room ON fed_pending(room_id);"
	/* The prev and auth events a pending event waits for: a prev event
	 * (prev = 1) must be stored with its state (sg <> 0, no outlier of
	 * unknown state), an auth event stored. */
	"CREATE TABLE fed_pending_refs(event_id TEXT NOT NULL, ref_id TEXT NOT NULL,"
	"  prev INTEGER NOT NULL, PRIMARY KEY(event_id, ref_id)) WITHOUT ROWID;"
	/* Backward extremities: events cited as prev events by outliers or by
	 * events placed over a gap (fed_outlier.h), not placed themselves.
	 * One arriving later is placed as a late event. */
	"CREATE TABLE fed_backward(event_id TEXT PRIMARY KEY) WITHOUT ROWID;",
};

mxdb_status fed_gap_migrate(sqlite3 *db, mxdb_error *err)
{
	return store_migrate(db, "fed_gap", gap_steps, sizeof(gap_steps) / sizeof(gap_steps[0]), err);
}

static const char SQL_EXTREMS[] =
	"SELECT x.event_id FROM extremities x, rooms r WHERE r.room_id = ? AND x.room_nid = r.nid";

mxdb_status fed_room_extremities(mxdb *db, const char *room_id, json_t **ids, mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_EXTREMS, err);
	json_t *out = json_array();
	mxdb_status s = st == NULL ? MXDB_EIO : out ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "extremities");
	if (s == MXDB_OK) {
		sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			if (json_array_append_new(out, json_string((const char *)sqlite3_column_text(st, 0))) != 0) {
				s = mx_fail(err, MXDB_ENOMEM, "extremities");
				break;
			}
		if (s == MXDB_OK && rc != SQLITE_DONE)
			s = store_fail(c, err, "extremities");
		sqlite3_reset(st);
	}
	store_release(c);
	if (s != MXDB_OK) {
		json_decref(out);
		return s;
	}
	*ids = out;
	return MXDB_OK;
}

static const char SQL_MIN_DEPTH[] =
	"SELECT coalesce(min(e.depth), 0) FROM events e, rooms r WHERE r.room_id = ?"
	" AND e.room_nid = r.nid AND NOT e.outlier";

mxdb_status fed_room_min_depth(mxdb *db, const char *room_id, int64_t *depth, mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_MIN_DEPTH, err);
	mxdb_status s = st ? MXDB_OK : MXDB_EIO;
	*depth = 0;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			*depth = sqlite3_column_int64(st, 0);
		else
			s = store_fail(c, err, "min depth");
		sqlite3_reset(st);
	}
	store_release(c);
	return s;
}

mxdb_status fed_room_event_placed(mxdb *db, const char *event_id, bool *placed, mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	int64_t pos = 0, sg = 0;
	mxdb_status s = fed_event_pos(c, event_id, &pos, &sg, err);
	store_release(c);
	*placed = pos != 0 && sg != 0;
	return s;
}

static mxdb_status sql_fail(sqlite3 *db, mxdb_error *err)
{
	return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
}

/* Runs sql with its parameters ?1.. bound to the texts t[0..n) (NULL:
 * left unbound) and ?9 to the integer num when it has one. */
static mxdb_status run(sqlite3 *db, const char *sql, const char *const *t, int n, long long num,
                       mxdb_error *err)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return sql_fail(db, err);
	for (int i = 0; i < n; i++)
		if (t[i])
			sqlite3_bind_text(q, i + 1, t[i], -1, SQLITE_STATIC);
	int at = sqlite3_bind_parameter_index(q, "?9");
	if (at > 0)
		sqlite3_bind_int64(q, at, num);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? MXDB_OK : sql_fail(db, err);
}

mxdb_status fed_pending_count(sqlite3 *db, const char *room_id, size_t *n, mxdb_error *err)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM fed_pending WHERE room_id = ?", -1, &q, NULL) !=
	    SQLITE_OK)
		return sql_fail(db, err);
	sqlite3_bind_text(q, 1, room_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	*n = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(q, 0) : 0;
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? MXDB_OK : sql_fail(db, err);
}

static const char SQL_EXPIRE_REFS[] =
	"DELETE FROM fed_pending_refs WHERE event_id IN"
	" (SELECT event_id FROM fed_pending WHERE received_ts < ?9)";
static const char SQL_EXPIRE[] = "DELETE FROM fed_pending WHERE received_ts < ?9";
static const char SQL_ADD[] =
	"INSERT OR REPLACE INTO fed_pending(room_id, event_id, pdu, received_ts) VALUES (?1, ?2, ?3, ?9)";
static const char SQL_ADD_REF[] =
	"INSERT OR IGNORE INTO fed_pending_refs(event_id, ref_id, prev) VALUES (?1, ?2, ?9)";

mxdb_status fed_pending_add(sqlite3 *db, const char *room_id, const char *event_id,
                            const char *pdu, const char *const *refs, size_t n, size_t n_prev,
                            long long now_ms, mxdb_error *err)
{
	size_t have;
	long long old = now_ms - FED_PENDING_KEEP_MS;
	mxdb_status s = run(db, "BEGIN IMMEDIATE", NULL, 0, 0, err);
	if (s != MXDB_OK)
		return s;
	if ((s = run(db, SQL_EXPIRE_REFS, NULL, 0, old, err)) == MXDB_OK)
		s = run(db, SQL_EXPIRE, NULL, 0, old, err);
	if (s == MXDB_OK && (s = fed_pending_count(db, room_id, &have, err)) == MXDB_OK &&
	    have >= FED_PENDING_MAX)
		s = mx_fail(err, MXDB_ETOOLARGE, "room %s has %zu pending events already", room_id, have);
	if (s == MXDB_OK)
		s = run(db, SQL_ADD, (const char *[]){room_id, event_id, pdu}, 3, now_ms, err);
	for (size_t i = 0; s == MXDB_OK && i < n; i++)
		s = run(db, SQL_ADD_REF, (const char *[]){event_id, refs[i]}, 2, i < n_prev, err);
	if (s == MXDB_OK)
		return run(db, "COMMIT", NULL, 0, 0, err);
	run(db, "ROLLBACK", NULL, 0, 0, NULL);
	return s;
}

/* Pending events none of whose refs is still missing from events. */
static const char SQL_READY[] =
	"SELECT p.event_id, p.pdu FROM fed_pending p WHERE p.room_id = ? AND NOT EXISTS"
	" (SELECT 1 FROM fed_pending_refs r WHERE r.event_id = p.event_id AND NOT EXISTS"
	"  (SELECT 1 FROM events e WHERE e.event_id = r.ref_id AND (NOT r.prev OR e.sg <> 0)))";

static const char SQL_ALL[] = "SELECT p.event_id, p.pdu FROM fed_pending p WHERE p.room_id = ?";

mxdb_status fed_pending_load(sqlite3 *db, const char *room_id, bool ready_only, json_t **pdus,
                             mxdb_error *err)
{
	sqlite3_stmt *q;
	json_t *out = json_object();
	if (out == NULL)
		return mx_fail(err, MXDB_ENOMEM, "pending");
	if (sqlite3_prepare_v2(db, ready_only ? SQL_READY : SQL_ALL, -1, &q, NULL) != SQLITE_OK) {
		json_decref(out);
		return sql_fail(db, err);
	}
	sqlite3_bind_text(q, 1, room_id, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *pdu = json_loads((const char *)sqlite3_column_text(q, 1), JSON_REJECT_DUPLICATES, NULL);
		if (pdu != NULL)
			json_object_set_new(out, (const char *)sqlite3_column_text(q, 0), pdu);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		json_decref(out);
		return sql_fail(db, err);
	}
	*pdus = out;
	return MXDB_OK;
}

mxdb_status fed_pending_drop(sqlite3 *db, const char *event_id, mxdb_error *err)
{
	mxdb_status s = run(db, "DELETE FROM fed_pending_refs WHERE event_id = ?1", &event_id, 1, 0, err);
	return s == MXDB_OK ? run(db, "DELETE FROM fed_pending WHERE event_id = ?1", &event_id, 1, 0, err) : s;
}
