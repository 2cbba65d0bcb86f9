/*
 * table_rows.c: the row endpoints of the native table API: one generic
 * write handler for PUT and DELETE (with compare-and-set through If-Match /
 * If-None-Match), GET of a row (its ETag is the version's event ID) or of
 * its history, and the paged scan. Never checks write permission itself:
 * the engine's auth rules do, exactly as for a Matrix client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define SCAN_DEFAULT 100
#define SCAN_MAX 1000

/* An If-Match value: "*", a quoted event ID (as HTTP says), or a bare one.
 * A weak W/ prefix is accepted and ignored: versions are exact anyway. */
static bool parse_if_match(const char *h, char *out, size_t cap)
{
	while (*h == ' ')
		h++;
	if (strncmp(h, "W/", 2) == 0)
		h += 2;
	size_t n = strlen(h);
	while (n > 0 && h[n - 1] == ' ')
		n--;
	if (n >= 2 && h[0] == '"' && h[n - 1] == '"') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= cap || memchr(h, '"', n) != NULL || memchr(h, ',', n) != NULL)
		return false;
	memcpy(out, h, n);
	out[n] = '\0';
	return true;
}

static void set_etag(http_req *r, const char *event_id)
{
	char etag[300];
	snprintf(etag, sizeof(etag), "\"%s\"", event_id);
	http_add_header(r, "ETag", etag);
}

/* A write refused by the auth rules may only lack the membership: join a
 * writer who may join (public table, or invited) and say whether to retry. */
static bool join_first(http_req *r, const char *room_id)
{
	char ms[16];
	mxdb *db = CS(r)->db;
	if (mxdb_member_of(db, room_id, r->user_id, ms, NULL) == MXDB_OK && strcmp(ms, "join") == 0)
		return false;
	return mxdb_membership(db, room_id, r->user_id, NULL, MXDB_JOIN, NULL, NULL, NULL, NULL) == MXDB_OK;
}

/* 412 with the row's current version (ETag and "current"), or null. */
static void reply_conflict(http_req *r, const char *room_id, const char *type, const char *key,
                           const char *why)
{
	char *cur = NULL;
	mxdb_get(CS(r)->db, room_id, type, key, NULL, &cur, NULL);
	if (cur != NULL)
		set_etag(r, cur);
	http_reply_json(r, 412, json_pack("{ss ss ss?}", "errcode", "M_CONDITION_FAILED", "error", why,
	                                  "current", cur));
	mxdb_free(cur);
}

void tbl_rows_write(http_req *r)
{
	char match[256];
	/* the engine resolves an alias and answers ENOTFOUND for an unknown
	 * table itself: no lookup of our own on the hot path */
	const char *room_id = r->param[0], *type = r->param[1], *key = r->param[2];
	bool del = r->method == HTTP_DELETE;
	const char *im = http_header(r, "If-Match"), *inm = http_header(r, "If-None-Match");
	if (im != NULL && !parse_if_match(im, match, sizeof(match))) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "If-Match: \"*\", or one version (\"$event_id\")");
		return;
	}
	if (inm != NULL && strcmp(inm, "*") != 0) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "If-None-Match: only \"*\" (create only)");
		return;
	}
	json_t *body = del ? NULL : tbl_body(r);
	if (!del && body == NULL)
		return;
	char *content = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	/* Deleting what is not there is a 404, like GET, not a new tombstone. */
	bool implicit = del && im == NULL && inm == NULL;
	mxdb_write w = {
		.room = room_id,
		.sender = r->user_id,
		.type = type,
		.state_key = key,
		.content = del ? "{}" : content,
		.if_match = im ? match : implicit ? "*" : NULL,
		.if_none_match = inm != NULL,
	};
	mxdb_write_result res;
	mxdb_error e;
	mxdb_status st = mxdb_write_event(CS(r)->db, &w, &res, &e);
	if (st == MXDB_EFORBIDDEN && join_first(r, room_id))
		st = mxdb_write_event(CS(r)->db, &w, &res, &e);
	free(content);
	if (st == MXDB_ECONFLICT && implicit) {
		http_reply_error(r, 404, "M_NOT_FOUND", "no row %s/%s", type, key);
	} else if (st == MXDB_ECONFLICT) {
		reply_conflict(r, room_id, type, key, e.message);
	} else if (st != MXDB_OK) {
		tbl_fail(r, st, &e);
	} else {
		set_etag(r, res.event_id);
		tbl_reply(r, 200, json_pack("{ss sI}", "event_id", res.event_id, "seq", (json_int_t)res.seq));
	}
}

/* ---- history ---- */

typedef struct won {
	const char *type, *key;
	json_t *seqs;     /* event ID -> seq at which it became the winning version */
	json_t *replaced; /* event IDs a state resolution (cause merge) replaced */
} won;

static int collect_won(void *ctx, const mxdb_change *c)
{
	won *w = ctx;
	if (strcmp(c->type, w->type) != 0 || strcmp(c->key, w->key) != 0)
		return 0;
	json_object_set_new(w->seqs, c->event, json_integer((json_int_t)c->seq));
	if (c->cause == MXDB_CAUSE_MERGE && c->prev != NULL)
		json_object_set_new(w->replaced, c->prev, json_true());
	return 0;
}

/* Every version of the row this server knows (the room's events with that
 * type and state_key), oldest first. A version lost a state resolution when
 * it never became the winning one, or when a merge (state resolution over
 * concurrent writes) replaced it. */
static void row_history(http_req *r, const char *room_id, const char *type, const char *key)
{
	mxdb *db = CS(r)->db;
	mxdb_error e;
	won w = {type, key, json_object(), json_object()};
	mxdb_status st = mxdb_changes_since(db, 0, room_id, 0, collect_won, &w, &e);
	char *cur_json = NULL;
	const char *current = NULL;
	json_t *cur = NULL;
	if (st == MXDB_OK && mxdb_state_event(db, room_id, type, key, &cur_json, NULL) == MXDB_OK) {
		cur = json_loads(cur_json, 0, NULL);
		current = json_string_value(json_object_get(cur, "event_id"));
	}
	mxdb_free(cur_json);
	json_t *versions = json_array();
	for (uint64_t from = 0; st == MXDB_OK;) {
		mxdb_events evs = {0};
		if ((st = mxdb_room_events(db, room_id, from, 0, 1000, &evs, &e)) != MXDB_OK)
			break;
		for (size_t i = 0; i < evs.n; i++) {
			mxdb_event *ev = &evs.ev[i];
			from = ev->pos;
			if (ev->state_key == NULL || strcmp(ev->type, type) != 0 || strcmp(ev->state_key, key) != 0)
				continue;
			json_t *full = json_loads(ev->json, 0, NULL);
			json_t *seq = json_object_get(w.seqs, ev->event_id);
			json_t *content = json_object_get(full, "content");
			bool deleted = !json_is_object(content) || json_object_size(content) == 0;
			bool lost = seq == NULL || json_object_get(w.replaced, ev->event_id) != NULL;
			json_array_append_new(
				versions,
				json_pack("{ss ss sI sO sb sb sb sO*}", "event_id", ev->event_id, "sender", ev->sender, "ts",
				          (json_int_t)ev->ts, "content", deleted ? json_null() : content, "deleted",
				          deleted, "winner", current && strcmp(current, ev->event_id) == 0, "lost",
				          lost, "seq", seq));
			json_decref(full);
		}
		size_t n = evs.n;
		mxdb_events_free(&evs);
		if (n < 1000)
			break;
	}
	/* A version known only as the current one: a replica that joined got
	 * it in the join's state (an outlier, in no timeline here). */
	bool listed = current == NULL;
	size_t i;
	json_t *v;
	json_array_foreach(versions, i, v) listed = listed || json_is_true(json_object_get(v, "winner"));
	if (st == MXDB_OK && !listed) {
		json_t *content = json_object_get(cur, "content");
		bool deleted = !json_is_object(content) || json_object_size(content) == 0;
		json_array_insert_new(
			versions, 0,
			json_pack("{sO sO sO sO sb sb sb sO*}", "event_id", json_object_get(cur, "event_id"),
			          "sender", json_object_get(cur, "sender"), "ts",
			          json_object_get(cur, "origin_server_ts"), "content",
			          deleted ? json_null() : content, "deleted", deleted, "winner", true, "lost",
			          false, "seq", json_object_get(w.seqs, current)));
	}
	if (st != MXDB_OK)
		tbl_fail(r, st, &e);
	else if (json_array_size(versions) == 0)
		http_reply_error(r, 404, "M_NOT_FOUND", "no row %s/%s", type, key);
	else
		tbl_reply(r, 200, json_pack("{ss ss ss ss* sO}", "room_id", room_id, "type", type, "key", key,
		                            "current", current, "versions", versions));
	json_decref(versions);
	json_decref(w.seqs);
	json_decref(w.replaced);
	json_decref(cur);
}

void tbl_rows_get(http_req *r)
{
	char room_id[256];
	const char *type = r->param[1], *key = r->param[2];
	if (!tbl_room(r, r->param[0], room_id) || !tbl_require_read(r, room_id))
		return;
	const char *h = http_query(r, "history");
	if (h != NULL && strcmp(h, "true") == 0) {
		row_history(r, room_id, type, key);
		return;
	}
	char *content = NULL, *event_id = NULL, match[256];
	mxdb_error e;
	mxdb_status st = mxdb_get(CS(r)->db, room_id, type, key, &content, &event_id, &e);
	if (st == MXDB_ENOTFOUND) {
		http_reply_error(r, 404, "M_NOT_FOUND", "no row %s/%s", type, key);
	} else if (st != MXDB_OK) {
		tbl_fail(r, st, &e);
	} else {
		set_etag(r, event_id);
		const char *inm = http_header(r, "If-None-Match");
		json_t *v = json_loads(content, 0, NULL);
		if (inm != NULL && parse_if_match(inm, match, sizeof(match)) && strcmp(match, event_id) == 0)
			http_reply_raw(r, 304, "application/json", "", 0);
		else if (v == NULL)
			http_reply_error(r, 500, "M_UNKNOWN", "the engine returned bad JSON");
		else
			tbl_reply(r, 200, json_incref(v));
		json_decref(v);
	}
	mxdb_free(content);
	mxdb_free(event_id);
}

void tbl_rows_scan(http_req *r)
{
	char room_id[256];
	if (!tbl_room(r, r->param[0], room_id) || !tbl_require_read(r, room_id))
		return;
	const char *lim = http_query(r, "limit");
	long limit = lim ? strtol(lim, NULL, 10) : SCAN_DEFAULT;
	if (limit <= 0 || limit > SCAN_MAX) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "limit: 1 to %d", SCAN_MAX);
		return;
	}
	mxdb_rows rows = {0};
	mxdb_error e;
	mxdb_status st = mxdb_scan(CS(r)->db, room_id, http_query(r, "type"), http_query(r, "prefix"),
	                           (size_t)limit, http_query(r, "from"), &rows, &e);
	if (st != MXDB_OK) {
		tbl_fail(r, st, &e);
		return;
	}
	json_t *out = json_array();
	for (size_t i = 0; i < rows.n; i++) {
		mxdb_row *row = &rows.rows[i];
		json_array_append_new(out, json_pack("{ss ss so* ss ss sI}", "type", row->type, "key", row->state_key,
		                                     "content", json_loads(row->content, 0, NULL), "event_id",
		                                     row->event_id, "sender", row->sender, "ts",
		                                     (json_int_t)row->ts));
	}
	tbl_reply(r, 200, json_pack("{so ss*}", "rows", out, "next", rows.next));
	mxdb_rows_free(&rows);
}
