/*
 * fed_cites.c: the citation counts of fed_cites.h. Owns the table fed_cites
 * (room_nid, event_id, n): one row per auth event cited by the rows of the
 * room's counted group, and the row event_id '' whose n is that group. It
 * is derived data, so it is made on first use rather than by a migration,
 * and it lives in the writer's transactions: a rolled-back merge rolls its
 * counts back too. Never reads a state group itself beyond the first count.
 */
#include <stdlib.h>
#include <string.h>

#include "ev.h"
#include "fed_cites.h"

static const char SQL_TABLE[] =
	"CREATE TABLE IF NOT EXISTS fed_cites(room_nid INTEGER NOT NULL, event_id TEXT NOT NULL,"
	" n INTEGER NOT NULL, PRIMARY KEY(room_nid, event_id)) WITHOUT ROWID";
static const char SQL_LOAD[] = "SELECT event_id, n FROM fed_cites WHERE room_nid = ?";
static const char SQL_SET[] = "INSERT OR REPLACE INTO fed_cites(room_nid, event_id, n) VALUES (?, ?, ?)";
static const char SQL_DEL[] = "DELETE FROM fed_cites WHERE room_nid = ? AND event_id = ?";
static const char SQL_AUTH_OF[] =
	"SELECT j.value FROM events e, json_each(e.skel, '$.auth_events') j WHERE e.pos = ?";

static mxdb_status step(store_conn *w, sqlite3_stmt *st, mxdb_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "citations");
}

mxdb_status fed_cite(store_conn *w, mx_map *cnt, int64_t pos, intptr_t delta, mxdb_error *err)
{
	if (pos == 0)
		return MXDB_OK;
	sqlite3_stmt *st = store_stmt(w, SQL_AUTH_OF, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, pos);
	int rc;
	mxdb_status s = MXDB_OK;
	while (s == MXDB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		if (id == NULL)
			continue;
		size_t len = strlen(id);
		intptr_t n = (intptr_t)map_get(cnt, id, len) + delta;
		if (map_put(cnt, id, len, (void *)n, NULL) != 0)
			s = mx_fail(err, MXDB_ENOMEM, "citations");
	}
	sqlite3_reset(st);
	if (s == MXDB_OK && rc != SQLITE_DONE)
		s = store_fail(w, err, "auth events");
	return s;
}

mxdb_status fed_cites_save(store_conn *w, int64_t room_nid, const mx_map *old, const mx_map *cnt,
                           int64_t sg, mxdb_error *err)
{
	size_t it = 0, kl;
	const char *k;
	void *v;
	mxdb_status s = MXDB_OK;
	char id[EV_ID_SIZE];
	while (s == MXDB_OK && map_next(cnt, &it, &k, &kl, &v)) {
		if (map_has(old, k, kl) && map_get(old, k, kl) == v)
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)kl, k);
		sqlite3_stmt *st = store_stmt(w, (intptr_t)v > 0 ? SQL_SET : SQL_DEL, err);
		if (st == NULL)
			return MXDB_EIO;
		sqlite3_bind_int64(st, 1, room_nid);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		if ((intptr_t)v > 0)
			sqlite3_bind_int64(st, 3, (int64_t)(intptr_t)v);
		s = step(w, st, err);
	}
	sqlite3_stmt *st = s == MXDB_OK ? store_stmt(w, SQL_SET, err) : NULL;
	if (st == NULL)
		return s == MXDB_OK ? MXDB_EIO : s;
	sqlite3_bind_int64(st, 1, room_nid);
	sqlite3_bind_text(st, 2, "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, sg);
	return step(w, st, err);
}

mxdb_status fed_cites_load(store_conn *w, int64_t room_nid, int64_t build_sg, mx_map **cnt,
                           int64_t *sg, mxdb_error *err)
{
	mx_map *m = map_new(64), *empty = NULL, *all = NULL;
	mxdb_status s = m ? store_run(w, SQL_TABLE, err) : mx_fail(err, MXDB_ENOMEM, "citations");
	sqlite3_stmt *st = s == MXDB_OK ? store_stmt(w, SQL_LOAD, err) : NULL;
	if (st == NULL) {
		map_free(m, NULL);
		return s == MXDB_OK ? MXDB_EIO : s;
	}
	*sg = 0;
	int rc;
	sqlite3_bind_int64(st, 1, room_nid);
	while (s == MXDB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		int64_t n = sqlite3_column_int64(st, 1);
		if (id[0] == '\0')
			*sg = n;
		else if (map_put(m, id, strlen(id), (void *)(intptr_t)n, NULL) != 0)
			s = mx_fail(err, MXDB_ENOMEM, "citations");
	}
	sqlite3_reset(st);
	if (s == MXDB_OK && rc != SQLITE_DONE)
		s = store_fail(w, err, "citations");
	if (s == MXDB_OK && *sg == 0) {
		/* The room's first merge: count over the whole state, once. */
		s = (empty = map_new(1)) ? sg_load(w, build_sg, &all, err)
		                         : mx_fail(err, MXDB_ENOMEM, "citations");
		size_t it = 0;
		void *v;
		while (s == MXDB_OK && map_next(all, &it, NULL, NULL, &v))
			s = fed_cite(w, m, (int64_t)(intptr_t)v, 1, err);
		if (s == MXDB_OK && (s = fed_cites_save(w, room_nid, empty, m, build_sg, err)) == MXDB_OK)
			*sg = build_sg;
	}
	map_free(all, NULL);
	map_free(empty, NULL);
	if (s != MXDB_OK) {
		map_free(m, NULL);
		return s;
	}
	*cnt = m;
	return MXDB_OK;
}
