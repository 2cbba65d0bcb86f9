/*
 * change.c: change records: reading them back from any seq (catch-up), the
 * in-process callbacks run after each commit, and the feed's CBOR encoding
 * (DESIGN.md "Change feed"). Owns the callback table; never writes SQL.
 */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "engine.h"

void eng_change_free(eng_change *c)
{
	free(c->room);
	free(c->type);
	free(c->key);
	free(c->event);
	free(c->prev);
	free(c->sender);
	free(c->content);
}

static int cb_add(mxdb *db, mxdb_change_fn change, mxdb_commit_fn commit, void *ctx)
{
	if (db == NULL || (change == NULL && commit == NULL))
		return 0;
	pthread_mutex_lock(&db->cblock);
	int id = 0;
	if (db->n_cbs < ENG_MAX_CALLBACKS) {
		id = ++db->next_cb_id;
		db->cbs[db->n_cbs++] = (eng_callback){id, change, commit, ctx};
	}
	pthread_mutex_unlock(&db->cblock);
	return id;
}

int mxdb_on_change(mxdb *db, mxdb_change_fn fn, void *ctx)
{
	return cb_add(db, fn, NULL, ctx);
}

int mxdb_on_commit(mxdb *db, mxdb_commit_fn fn, void *ctx)
{
	return cb_add(db, NULL, fn, ctx);
}

void mxdb_unsubscribe(mxdb *db, int id)
{
	pthread_mutex_lock(&db->cblock);
	for (int i = 0; i < db->n_cbs; i++)
		if (db->cbs[i].id == id) {
			memmove(&db->cbs[i], &db->cbs[i + 1], (size_t)(db->n_cbs - i - 1) * sizeof(db->cbs[0]));
			db->n_cbs--;
			break;
		}
	pthread_mutex_unlock(&db->cblock);
}

void eng_dispatch(mxdb *db, eng_change *chg, size_t n, uint64_t pos)
{
	pthread_mutex_lock(&db->cblock);
	for (int i = 0; i < db->n_cbs; i++) {
		eng_callback *cb = &db->cbs[i];
		if (chg == NULL && cb->commit != NULL)
			cb->commit(cb->ctx, pos);
		for (size_t j = 0; chg != NULL && cb->change != NULL && j < n; j++)
			cb->change(cb->ctx, &chg[j].c);
	}
	pthread_mutex_unlock(&db->cblock);
}

/* A merge record naming the version it replaced as the new one: state
 * resolution left the row without any version (content null, as deleted). */
#define CHANGE_CONTENT "CASE WHEN c.cause = 2 AND c.pos = c.prev_pos THEN '{}' ELSE e.content END"
static const char SQL_CHANGES[] =
	"SELECT c.seq, c.room_seq, c.pos, r.room_id, e.type, e.state_key, e.event_id, p.event_id,"
	" e.sender, e.ts, " CHANGE_CONTENT ", c.cause FROM changes c JOIN rooms r ON r.nid = c.room_nid"
	" JOIN events e ON e.pos = c.pos LEFT JOIN events p ON p.pos = c.prev_pos"
	" WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2";
static const char SQL_CHANGES_ROOM[] =
	"SELECT c.seq, c.room_seq, c.pos, r.room_id, e.type, e.state_key, e.event_id, p.event_id,"
	" e.sender, e.ts, " CHANGE_CONTENT ", c.cause FROM changes c JOIN rooms r ON r.nid = c.room_nid"
	" JOIN events e ON e.pos = c.pos LEFT JOIN events p ON p.pos = c.prev_pos"
	" WHERE c.room_nid = ?3 AND c.seq > ?1 ORDER BY c.room_seq LIMIT ?2";

mxdb_status mxdb_changes_since(mxdb *db, uint64_t since, const char *room, size_t limit,
                               mxdb_change_fn fn, void *ctx, mxdb_error *err)
{
	if (db == NULL || fn == NULL)
		return mx_fail(err, MXDB_EINVAL, "no database or callback");
	store_conn *c = store_reader(db->st);
	int64_t nid = 0;
	mxdb_status s = room ? rd_room_nid(c, room, &nid, NULL, err) : MXDB_OK;
	sqlite3_stmt *st = NULL;
	if (s == MXDB_OK && (st = store_stmt(c, room ? SQL_CHANGES_ROOM : SQL_CHANGES, err)) == NULL)
		s = MXDB_EIO;
	if (s == MXDB_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)since);
		sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
		if (room != NULL)
			sqlite3_bind_int64(st, 3, nid);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *content = (const char *)sqlite3_column_text(st, 10);
			mxdb_change ch = {
				.seq = (uint64_t)sqlite3_column_int64(st, 0),
				.room_seq = (uint64_t)sqlite3_column_int64(st, 1),
				.pos = (uint64_t)sqlite3_column_int64(st, 2),
				.room = (const char *)sqlite3_column_text(st, 3),
				.type = (const char *)sqlite3_column_text(st, 4),
				.key = (const char *)sqlite3_column_text(st, 5),
				.event = (const char *)sqlite3_column_text(st, 6),
				.prev = (const char *)sqlite3_column_text(st, 7),
				.sender = (const char *)sqlite3_column_text(st, 8),
				.ts = sqlite3_column_int64(st, 9),
				.content = content && strcmp(content, "{}") != 0 ? content : NULL,
				.cause = (mxdb_cause)sqlite3_column_int(st, 11),
			};
			if (fn(ctx, &ch) != 0) {
				rc = SQLITE_DONE;
				break;
			}
		}
		if (rc != SQLITE_DONE)
			s = store_fail(c, err, "changes");
		sqlite3_reset(st);
	}
	store_release(c);
	return s;
}

/* ---- CBOR ---- */

static cbor_item_t *json_to_cbor(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		cbor_item_t *m = cbor_new_definite_map(json_object_size(j));
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)j, k, v)
		{
			cbor_item_t *val = json_to_cbor(v);
			if (m == NULL || val == NULL ||
			    !cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string(k)), cbor_move(val)})) {
				if (val)
					cbor_decref(&val);
				if (m)
					cbor_decref(&m);
				return NULL;
			}
		}
		return m;
	}
	case JSON_ARRAY: {
		cbor_item_t *a = cbor_new_definite_array(json_array_size(j));
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v)
		{
			cbor_item_t *val = json_to_cbor(v);
			if (a == NULL || val == NULL || !cbor_array_push(a, cbor_move(val))) {
				if (val)
					cbor_decref(&val);
				if (a)
					cbor_decref(&a);
				return NULL;
			}
		}
		return a;
	}
	case JSON_STRING:
		return cbor_build_stringn(json_string_value(j), json_string_length(j));
	case JSON_INTEGER: {
		json_int_t v = json_integer_value(j);
		return v >= 0 ? cbor_build_uint64((uint64_t)v) : cbor_build_negint64((uint64_t)(-1 - v));
	}
	case JSON_REAL:
		return cbor_build_float8(json_real_value(j));
	case JSON_TRUE:
		return cbor_build_bool(true);
	case JSON_FALSE:
		return cbor_build_bool(false);
	default:
		return cbor_new_null();
	}
}

static bool put(cbor_item_t *m, const char *k, cbor_item_t *v)
{
	if (v == NULL)
		return false;
	return cbor_map_add(m, (struct cbor_pair){cbor_move(cbor_build_string(k)), cbor_move(v)});
}

static cbor_item_t *str_or_null(const char *s)
{
	return s ? cbor_build_string(s) : cbor_new_null();
}

mxdb_status mxdb_change_cbor(const mxdb_change *c, unsigned char **buf, size_t *len,
                             mxdb_error *err)
{
	static const char *const causes[] = {"local", "remote", "merge"};
	if (c == NULL || buf == NULL || len == NULL || (unsigned)c->cause > MXDB_CAUSE_MERGE)
		return mx_fail(err, MXDB_EINVAL, "bad change");
	cbor_item_t *content = NULL;
	if (c->content != NULL) {
		json_t *j = json_loads(c->content, 0, NULL);
		content = j ? json_to_cbor(j) : NULL;
		json_decref(j);
		if (content == NULL)
			return mx_fail(err, MXDB_EBADJSON, "change content does not encode");
	} else {
		content = cbor_new_null();
	}
	cbor_item_t *m = cbor_new_definite_map(11);
	bool ok = m != NULL && put(m, "seq", cbor_build_uint64(c->seq)) &&
	          put(m, "room_seq", cbor_build_uint64(c->room_seq)) &&
	          put(m, "room", str_or_null(c->room)) && put(m, "type", str_or_null(c->type)) &&
	          put(m, "key", str_or_null(c->key)) && put(m, "event", str_or_null(c->event)) &&
	          put(m, "prev", str_or_null(c->prev)) && put(m, "sender", str_or_null(c->sender)) &&
	          put(m, "ts", c->ts >= 0 ? cbor_build_uint64((uint64_t)c->ts)
	                                  : cbor_build_negint64((uint64_t)(-1 - c->ts))) &&
	          put(m, "content", content) && (content = NULL, true) &&
	          put(m, "cause", cbor_build_string(causes[c->cause]));
	if (content != NULL)
		cbor_decref(&content);
	size_t cap = 0;
	*buf = NULL;
	*len = ok ? cbor_serialize_alloc(m, buf, &cap) : 0;
	if (m != NULL)
		cbor_decref(&m);
	if (*len == 0) {
		free(*buf);
		*buf = NULL;
		return mx_fail(err, MXDB_ENOMEM, "change encoding");
	}
	return MXDB_OK;
}
