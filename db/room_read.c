/*
 * room_read.c: reading tables on a reader connection: rows (get, scan),
 * the current state, single events, room info, aliases and the directory.
 * Never writes; never waits for the writer (WAL snapshots).
 */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "cjson.h"
#include "room_read.h"

static const char SQL_ALIAS[] = "SELECT room_id FROM aliases WHERE alias = ?";
static const char SQL_ROOM_NID[] = "SELECT nid FROM rooms WHERE room_id = ?";

mxdb_status rd_alias(store_conn *c, const char *name, char **resolved, mxdb_error *err)
{
	*resolved = NULL;
	if (name == NULL || strlen(name) > EV_MAX_ID)
		return mx_fail(err, MXDB_EINVAL, "bad table name");
	if (name[0] != '#')
		return name[0] == '!' ? MXDB_OK
		                      : mx_fail(err, MXDB_EINVAL, "a table is a room ID (!...) or an alias (#...)");
	sqlite3_stmt *st = store_stmt(c, SQL_ALIAS, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*resolved = store_col_str(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return *resolved ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "alias");
	return rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no table with alias %s", name)
	                         : store_fail(c, err, "alias");
}

mxdb_status rd_room_nid(store_conn *c, const char *room, int64_t *nid, char **room_id,
                        mxdb_error *err)
{
	char *resolved;
	mxdb_status s = rd_alias(c, room, &resolved, err);
	if (s != MXDB_OK)
		return s;
	if (resolved != NULL)
		room = resolved;
	sqlite3_stmt *st = store_stmt(c, SQL_ROOM_NID, err);
	if (st == NULL) {
		free(resolved);
		return MXDB_EIO;
	}
	sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*nid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	s = rc == SQLITE_ROW              ? MXDB_OK
	                : rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no table %s", room)
	                                    : store_fail(c, err, "room");
	if (s == MXDB_OK && room_id != NULL && (*room_id = strdup(room)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "room");
	free(resolved);
	return s;
}

mxdb_status rd_room_stmt(store_conn *c, const char *room, const char *sql, sqlite3_stmt **st,
                         mxdb_error *err)
{
	int64_t nid;
	*st = NULL;
	mxdb_status s = rd_room_nid(c, room, &nid, NULL, err);
	if (s == MXDB_OK && (*st = store_stmt(c, sql, err)) == NULL)
		s = MXDB_EIO;
	if (s == MXDB_OK)
		sqlite3_bind_int64(*st, 1, nid);
	return s;
}

static const char SQL_PDU[] = "SELECT event_id, content, skel FROM events WHERE pos = ?";

mxdb_status rd_pdu(store_conn *c, int64_t pos, json_t **out, char **event_id, mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(c, SQL_PDU, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, pos);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no event at %lld", (long long)pos)
		                         : store_fail(c, err, "event");
	}
	json_t *skel = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	json_t *content = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
	if (event_id != NULL)
		*event_id = store_col_str(st, 0);
	sqlite3_reset(st);
	if (skel == NULL || content == NULL) {
		json_decref(skel);
		json_decref(content);
		if (event_id != NULL)
			free(*event_id);
		return mx_fail(err, MXDB_EINTERNAL, "stored event %lld does not parse", (long long)pos);
	}
	json_object_set_new(skel, "content", content);
	*out = skel;
	return MXDB_OK;
}

/* A column holding a JSON object (NULL when the column is NULL). */
static json_t *col_json(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Everything a client needs in unsigned is computed here, at read time:
 * age from now, the replaced version of a state key from its change
 * record, the whole redaction event. transaction_id is not: only the
 * sending device may see it, and this builder does not know the reader. */
json_t *rd_client_event(sqlite3_stmt *st, int col)
{
	json_t *content = json_loads((const char *)sqlite3_column_text(st, col + 7), 0, NULL);
	json_t *ev = json_pack("{s:o, s:s, s:I, s:s, s:s, s:s, s:{}}", "content",
	                       content ? content : json_object(), "event_id",
	                       (const char *)sqlite3_column_text(st, col + 2), "origin_server_ts",
	                       (json_int_t)sqlite3_column_int64(st, col + 6), "room_id",
	                       (const char *)sqlite3_column_text(st, col + 1), "sender",
	                       (const char *)sqlite3_column_text(st, col + 5), "type",
	                       (const char *)sqlite3_column_text(st, col + 3), "unsigned");
	if (ev == NULL)
		return NULL;
	if (sqlite3_column_type(st, col + 4) != SQLITE_NULL)
		json_object_set_new(ev, "state_key",
		                    json_string((const char *)sqlite3_column_text(st, col + 4)));
	if (sqlite3_column_type(st, col + 8) != SQLITE_NULL)
		json_object_set_new(ev, "redacts", json_string((const char *)sqlite3_column_text(st, col + 8)));
	json_t *u = json_object_get(ev, "unsigned");
	int64_t now = eng_now_ms();
	json_object_set_new(u, "age", json_integer(now - sqlite3_column_int64(st, col + 6)));
	json_t *prev = col_json(st, col + 11);
	if (prev != NULL) {
		json_object_set(u, "replaces_state", json_object_get(prev, "event_id"));
		json_object_set(u, "prev_content", json_object_get(prev, "content"));
		json_decref(prev);
	}
	json_t *because = col_json(st, col + 12);
	if (because != NULL) {
		json_int_t ts = json_integer_value(json_object_get(because, "origin_server_ts"));
		json_object_set_new(because, "unsigned", json_pack("{s:I}", "age", (json_int_t)now - ts));
		if (json_is_null(json_object_get(because, "redacts")))
			json_object_del(because, "redacts");
		json_object_set_new(u, "redacted_because", because);
	}
	return ev;
}

mxdb_status rd_event_array(store_conn *c, sqlite3_stmt *st, char **json, mxdb_error *err)
{
	json_t *arr = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, rd_client_event(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return store_fail(c, err, "events");
	}
	*json = eng_dumps(arr);
	json_decref(arr);
	return *json ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "events");
}

/* ---- rows ---- */

static const char SQL_GET[] =
	"SELECT e.event_id, e.content FROM rooms r JOIN cur_state c ON c.room_nid = r.nid"
	" JOIN events e ON e.pos = c.pos WHERE r.room_id = ? AND c.type = ? AND c.state_key = ?";

mxdb_status mxdb_get(mxdb *db, const char *room, const char *type, const char *state_key,
                     char **content, char **event_id, mxdb_error *err)
{
	if (room == NULL || type == NULL || state_key == NULL)
		return mx_fail(err, MXDB_EINVAL, "table, type and state_key are required");
	store_conn *c = store_reader(db->st);
	char *rid = NULL;
	mxdb_status s = MXDB_OK;
	int64_t nid;
	if (room[0] == '#' && (s = rd_room_nid(c, room, &nid, &rid, err)) == MXDB_OK)
		room = rid;
	sqlite3_stmt *st = s == MXDB_OK ? store_stmt(c, SQL_GET, err) : NULL;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, room, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, state_key, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		const char *text = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1) : NULL;
		if (rc == SQLITE_ROW && strcmp(text, "{}") != 0) {
			if (content != NULL)
				*content = strdup(text);
			if (event_id != NULL)
				*event_id = store_col_str(st, 0);
		} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
			s = MXDB_ENOTFOUND;
		} else {
			s = store_fail(c, err, "get");
		}
		sqlite3_reset(st);
		/* Say which: an unknown table, or no such row. */
		if (s == MXDB_ENOTFOUND && (s = rd_room_nid(c, room, &nid, NULL, err)) == MXDB_OK)
			s = mx_fail(err, MXDB_ENOTFOUND, "no row %s/%s", type, state_key);
	} else if (s == MXDB_OK) {
		s = MXDB_EIO;
	}
	store_release(c);
	free(rid);
	return s;
}

/* A page token is the last (type, state_key) seen: base64url of "type\0key". */
static char *token_make(const char *type, const char *key)
{
	size_t tl = strlen(type), kl = strlen(key);
	unsigned char *raw = malloc(tl + kl + 1);
	char *out = malloc(B64_ENCODED_SIZE(tl + kl + 1));
	if (raw != NULL && out != NULL) {
		memcpy(raw, type, tl + 1);
		memcpy(raw + tl + 1, key, kl);
		b64_encode_url(raw, tl + kl + 1, out);
	} else {
		free(out);
		out = NULL;
	}
	free(raw);
	return out;
}

static mxdb_status token_read(const char *tok, char **type, char **key, mxdb_error *err)
{
	size_t n = strlen(tok);
	char *raw = malloc(n + 2);
	long len = raw ? b64_decode_url(tok, n, (unsigned char *)raw, n + 1) : -1;
	char *nul = len > 0 ? memchr(raw, '\0', (size_t)len) : NULL;
	if (nul == NULL) {
		free(raw);
		return mx_fail(err, MXDB_EINVAL, "bad page token");
	}
	raw[len] = '\0';
	*type = strdup(raw);
	*key = strdup(nul + 1);
	free(raw);
	return *type && *key ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "token");
}

/* ?2/?3: the start (inclusive when ?4 = 0); ?5: type or NULL; ?6: prefix or NULL. */
static const char SQL_SCAN[] =
	"SELECT c.type, c.state_key, e.content, e.event_id, e.sender, e.ts FROM cur_state c"
	" JOIN events e ON e.pos = c.pos WHERE c.room_nid = ?1 AND (c.type, c.state_key) >= (?2, ?3)"
	" AND (?4 = 0 OR (c.type, c.state_key) <> (?2, ?3)) AND (?5 IS NULL OR c.type = ?5)"
	" AND (?6 IS NULL OR substr(c.state_key, 1, length(?6)) = ?6) AND e.content <> '{}'"
	" ORDER BY c.type, c.state_key LIMIT ?7";

mxdb_status mxdb_scan(mxdb *db, const char *room, const char *type, const char *prefix,
                      size_t limit, const char *from, mxdb_rows *out, mxdb_error *err)
{
	memset(out, 0, sizeof(*out));
	if (limit == 0)
		limit = 100;
	if (limit > 10000)
		limit = 10000;
	char *ft = NULL, *fk = NULL;
	mxdb_status s = from ? token_read(from, &ft, &fk, err) : MXDB_OK;
	if (s != MXDB_OK)
		return s;
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = NULL;
	s = rd_room_stmt(c, room, SQL_SCAN, &st, err);
	if (s == MXDB_OK && (out->rows = calloc(limit, sizeof(mxdb_row))) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "rows");
	if (s == MXDB_OK) {
		sqlite3_bind_text(st, 2, ft ? ft : type ? type : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, fk ? fk : prefix && (ft || type) ? prefix : "", -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, ft != NULL);
		if (type != NULL)
			sqlite3_bind_text(st, 5, type, -1, SQLITE_STATIC);
		if (prefix != NULL)
			sqlite3_bind_text(st, 6, prefix, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, (int64_t)limit + 1);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (out->n == limit) {
				const mxdb_row *last = &out->rows[out->n - 1];
				out->next = token_make(last->type, last->state_key);
				break;
			}
			mxdb_row *r = &out->rows[out->n++];
			r->type = store_col_str(st, 0);
			r->state_key = store_col_str(st, 1);
			r->content = store_col_str(st, 2);
			r->event_id = store_col_str(st, 3);
			r->sender = store_col_str(st, 4);
			r->ts = sqlite3_column_int64(st, 5);
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			s = store_fail(c, err, "scan");
		sqlite3_reset(st);
	}
	store_release(c);
	free(ft);
	free(fk);
	if (s != MXDB_OK)
		mxdb_rows_free(out);
	return s;
}

void mxdb_rows_free(mxdb_rows *rows)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < rows->n; i++) {
		mxdb_row *r = &rows->rows[i];
		free(r->type);
		free(r->state_key);
		free(r->content);
		free(r->event_id);
		free(r->sender);
	}
	free(rows->rows);
	free(rows->next);
	memset(rows, 0, sizeof(*rows));
}

/* ---- state and single events ---- */

static const char SQL_STATE[] =
	"SELECT " RD_EVENT_COLS " FROM cur_state c JOIN events e ON e.pos = c.pos"
	" JOIN rooms r ON r.nid = c.room_nid WHERE c.room_nid = ?1"
	" AND (?2 IS NULL OR (c.type = ?2 AND c.state_key = ?3)) ORDER BY c.type, c.state_key";

static mxdb_status state_read(mxdb *db, const char *room, const char *type, const char *key,
                              char **json, mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = NULL;
	mxdb_status s = rd_room_stmt(c, room, SQL_STATE, &st, err);
	if (s == MXDB_OK) {
		if (type != NULL) {
			sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
		}
		s = rd_event_array(c, st, json, err);
	}
	store_release(c);
	return s;
}

mxdb_status mxdb_state(mxdb *db, const char *room, char **json, mxdb_error *err)
{
	return state_read(db, room, NULL, NULL, json, err);
}

mxdb_status mxdb_state_event(mxdb *db, const char *room, const char *type,
                             const char *state_key, char **json, mxdb_error *err)
{
	if (type == NULL || state_key == NULL)
		return mx_fail(err, MXDB_EINVAL, "type and state_key are required");
	char *arr;
	mxdb_status s = state_read(db, room, type, state_key, &arr, err);
	if (s != MXDB_OK)
		return s;
	json_t *a = json_loads(arr, 0, NULL);
	free(arr);
	json_t *ev = json_array_get(a, 0);
	*json = ev ? eng_dumps(ev) : NULL;
	json_decref(a);
	return *json ? MXDB_OK : mx_fail(err, MXDB_ENOTFOUND, "no state %s/%s", type, state_key);
}

static const char SQL_EVENT[] = "SELECT " RD_EVENT_COLS
                                " FROM events e JOIN rooms r ON r.nid = e.room_nid WHERE e.event_id = ?"
                                RD_NOT_REJECTED;

mxdb_status mxdb_event_get(mxdb *db, const char *event_id, char **json, mxdb_error *err)
{
	if (event_id == NULL)
		return mx_fail(err, MXDB_EINVAL, "no event ID");
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_EVENT, err);
	mxdb_status s = st ? MXDB_OK : MXDB_EIO;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		json_t *ev = rc == SQLITE_ROW ? rd_client_event(st, 0) : NULL;
		sqlite3_reset(st);
		*json = ev ? eng_dumps(ev) : NULL;
		json_decref(ev);
		if (*json == NULL)
			s = rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no event %s", event_id)
			                      : store_fail(c, err, "event");
	}
	store_release(c);
	return s;
}

static const char SQL_EVENT_POS[] = "SELECT pos FROM events WHERE event_id = ?";

mxdb_status mxdb_event_pdu(mxdb *db, const char *event_id, char **json, mxdb_error *err)
{
	if (event_id == NULL)
		return mx_fail(err, MXDB_EINVAL, "no event ID");
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_EVENT_POS, err);
	mxdb_status s = st ? MXDB_OK : MXDB_EIO;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		int64_t pos = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
		json_t *pdu = NULL;
		if (rc != SQLITE_ROW)
			s = mx_fail(err, MXDB_ENOTFOUND, "no event %s", event_id);
		else if ((s = rd_pdu(c, pos, &pdu, NULL, err)) == MXDB_OK)
			s = (*json = eng_dumps(pdu)) ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "event");
		json_decref(pdu);
	}
	store_release(c);
	return s;
}

/* A state event's group is the state after it, its parent the state
 * before; a rejected event's group is the state before it (it changed
 * nothing); an outlier has no state before it, and a state after it only
 * when sg is set. */
static const char SQL_EVENT_SG[] =
	"SELECT e.sg, e.state_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM fed_rejected x"
	" WHERE x.event_id = e.event_id), g.parent, e.outlier FROM events e"
	" LEFT JOIN state_groups g ON g.sg = e.sg WHERE e.event_id = ?";
static const char SQL_POS_ID[] = "SELECT event_id FROM events WHERE pos = ?";
static const char SQL_POS_CLIENT[] =
	"SELECT " RD_EVENT_COLS " FROM events e JOIN rooms r ON r.nid = e.room_nid WHERE e.pos = ?";

/* The state before or after an event as an array of event IDs (client 0)
 * or of client-format events (client 1). */
static mxdb_status state_at(mxdb *db, const char *event_id, int after, int client, char **json,
                            mxdb_error *err)
{
	if (event_id == NULL || json == NULL)
		return mx_fail(err, MXDB_EINVAL, "no event ID");
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_EVENT_SG, err);
	mxdb_status s = st ? MXDB_OK : MXDB_EIO;
	int64_t sg = 0;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && sqlite3_column_int(st, 3) &&
		    (!after || sqlite3_column_int64(st, 0) == 0))
			s = mx_fail(err, MXDB_ENOTFOUND, "the state at %s is not known here", event_id);
		else if (rc == SQLITE_ROW)
			sg = sqlite3_column_int(st, 1) && !after ? sqlite3_column_int64(st, 2)
			                                         : sqlite3_column_int64(st, 0);
		else
			s = rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no event %s", event_id)
			                      : store_fail(c, err, "event");
		sqlite3_reset(st);
	}
	mx_map *m = NULL;
	if (s == MXDB_OK)
		s = sg_load(c, sg, &m, err);
	json_t *arr = json_array();
	size_t it = 0;
	const char *k;
	size_t kl;
	void *v;
	while (s == MXDB_OK && map_next(m, &it, &k, &kl, &v)) {
		if ((st = store_stmt(c, client ? SQL_POS_CLIENT : SQL_POS_ID, err)) == NULL) {
			s = MXDB_EIO;
			break;
		}
		sqlite3_bind_int64(st, 1, (int64_t)(intptr_t)v);
		if (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(arr, client ? rd_client_event(st, 0)
			                                  : json_string((const char *)sqlite3_column_text(st, 0)));
		else
			s = mx_fail(err, MXDB_EINTERNAL, "state names a missing event");
		sqlite3_reset(st);
	}
	store_release(c);
	map_free(m, NULL);
	if (s == MXDB_OK && (*json = eng_dumps(arr)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "state");
	json_decref(arr);
	return s;
}

mxdb_status mxdb_state_ids_at(mxdb *db, const char *event_id, int after, char **json,
                              mxdb_error *err)
{
	return state_at(db, event_id, after, 0, json, err);
}

mxdb_status mxdb_state_at(mxdb *db, const char *event_id, int after, char **json, mxdb_error *err)
{
	return state_at(db, event_id, after, 1, json, err);
}

/* ---- room info and the directory ---- */

static const char SQL_INFO[] =
	"SELECT r.room_id, r.version, r.creator, e.event_id, r.public,"
	" (SELECT max(pos) FROM events WHERE room_nid = r.nid)"
	" FROM rooms r JOIN events e ON e.pos = r.create_pos WHERE r.nid = ?";

mxdb_status mxdb_room_info_get(mxdb *db, const char *room, mxdb_room_info *out, mxdb_error *err)
{
	memset(out, 0, sizeof(*out));
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = NULL;
	mxdb_status s = rd_room_stmt(c, room, SQL_INFO, &st, err);
	if (s == MXDB_OK) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			snprintf(out->room_id, sizeof(out->room_id), "%s", sqlite3_column_text(st, 0));
			snprintf(out->version, sizeof(out->version), "%s", sqlite3_column_text(st, 1));
			snprintf(out->creator, sizeof(out->creator), "%s", sqlite3_column_text(st, 2));
			snprintf(out->create_event_id, sizeof(out->create_event_id), "%s",
			         sqlite3_column_text(st, 3));
			out->visibility_public = sqlite3_column_int(st, 4);
			out->last_pos = (uint64_t)sqlite3_column_int64(st, 5);
		} else {
			s = store_fail(c, err, "room info");
		}
		sqlite3_reset(st);
	}
	store_release(c);
	return s;
}

static const char SQL_ALIAS_ROW[] = "SELECT room_id, creator FROM aliases WHERE alias = ?";

static mxdb_status alias_col(mxdb *db, const char *alias, int col, char **out, mxdb_error *err)
{
	if (alias == NULL || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "no alias");
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_ALIAS_ROW, err);
	mxdb_status s = st ? MXDB_OK : MXDB_EIO;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, alias, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		*out = rc == SQLITE_ROW ? store_col_str(st, col) : NULL;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			s = rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no alias %s", alias)
			                      : store_fail(c, err, "alias");
		else if (*out == NULL)
			s = mx_fail(err, MXDB_ENOTFOUND, "alias %s has no creator", alias);
	}
	store_release(c);
	return s;
}

mxdb_status mxdb_alias_resolve(mxdb *db, const char *alias, char **room_id, mxdb_error *err)
{
	return alias_col(db, alias, 0, room_id, err);
}

mxdb_status mxdb_alias_creator(mxdb *db, const char *alias, char **creator, mxdb_error *err)
{
	return alias_col(db, alias, 1, creator, err);
}

static const char SQL_PUBLIC[] = "SELECT room_id FROM rooms WHERE public = 1 ORDER BY nid";

mxdb_status mxdb_public_rooms(mxdb *db, char **json, mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_PUBLIC, err);
	mxdb_status s = st ? MXDB_OK : MXDB_EIO;
	json_t *arr = json_array();
	int rc = SQLITE_DONE;
	while (st != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, json_string((const char *)sqlite3_column_text(st, 0)));
	if (st != NULL)
		sqlite3_reset(st);
	if (s == MXDB_OK && rc != SQLITE_DONE)
		s = store_fail(c, err, "public rooms");
	store_release(c);
	if (s == MXDB_OK && (*json = eng_dumps(arr)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "public rooms");
	json_decref(arr);
	return s;
}
