/*
 * table_changes.c: the change feed over HTTP: GET /_mxdb/v1/changes, the
 * catch-up read of the reliable subscriber (and a long-poll for clients
 * that cannot speak nng), and its Server-Sent Events form for browsers
 * (?feed=eventsource). Records are the feed's CBOR map as JSON (or CBOR).
 * Only the changes of tables the caller may read are answered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "table.h"

#define CHANGES_DEFAULT 1000
#define CHANGES_MAX 10000
#define POLL_MAX_MS 300000

typedef struct collect {
	mxdb *db;
	const char *user;
	bool one_room;      /* access already checked for the one room */
	json_t *out;
	json_t *readable;   /* room ID -> true/false, decided once per request */
	uint64_t last;      /* the last seq looked at, visible or not */
	mxdb_status st;
	mxdb_error *err;
} collect;

static int collect_change(void *ctx, const mxdb_change *c)
{
	collect *k = ctx;
	k->last = c->seq;
	if (!k->one_room && !tbl_readable_cached(k->db, k->readable, c->room, k->user))
		return 0;
	json_t *rec;
	if ((k->st = feed_change_json(c, &rec, k->err)) != MXDB_OK)
		return 1;
	json_array_append_new(k->out, rec);
	return 0;
}

/* Parses an unsigned decimal query parameter; false (after a 400) when bad. */
static bool query_u64(http_req *r, const char *name, uint64_t dflt, uint64_t max, uint64_t *out)
{
	const char *v = http_query(r, name);
	*out = dflt;
	if (v == NULL || *v == '\0')
		return true;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end != '\0' || errno != 0 || v[0] == '-' || n > max) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "%s: a number up to %llu", name,
		                 (unsigned long long)max);
		return false;
	}
	*out = n;
	return true;
}

/* The changes after since (one room or all readable), as a JSON array;
 * *last = the last seq looked at. */
static mxdb_status collect_changes(http_req *r, uint64_t since, const char *room_id, uint64_t limit,
                                   json_t **out, uint64_t *last, mxdb_error *err)
{
	collect k = {CS(r)->db, r->user_id, room_id != NULL, json_array(), json_object(), since, MXDB_OK, err};
	mxdb_status st = MXDB_OK;
	if (limit > 0)
		st = mxdb_changes_since(k.db, since, room_id, (size_t)limit, collect_change, &k, err);
	if (st == MXDB_OK)
		st = k.st;
	json_decref(k.readable);
	if (st != MXDB_OK) {
		json_decref(k.out);
		return st;
	}
	*out = k.out;
	*last = k.last;
	return MXDB_OK;
}

void tbl_changes(http_req *r)
{
	const char *feed = http_query(r, "feed");
	if (feed != NULL && strcmp(feed, "eventsource") == 0) {
		tbl_changes_sse(r);
		return;
	}
	uint64_t since, limit, timeout;
	if (!query_u64(r, "since", 0, UINT64_MAX - 1, &since) ||
	    !query_u64(r, "limit", CHANGES_DEFAULT, CHANGES_MAX, &limit) ||
	    !query_u64(r, "timeout", 0, POLL_MAX_MS, &timeout))
		return;
	char room_id[256];
	const char *room = http_query(r, "room");
	if (room != NULL && (!tbl_room(r, room, room_id) || !tbl_require_read(r, room_id)))
		return;
	json_t *changes;
	uint64_t last;
	mxdb_error e;
	mxdb_status st = collect_changes(r, since, room ? room_id : NULL, limit, &changes, &last, &e);
	if (st != MXDB_OK) {
		tbl_fail(r, st, &e);
		return;
	}
	/* Nothing yet: park until a commit wakes us or the timeout passes. */
	if (json_array_size(changes) == 0 && last <= since && timeout > 0 && limit > 0 &&
	    !http_closing(r->srv)) {
		int64_t deadline = r->resumed ? r->park_deadline : http_now_ms() + (int64_t)timeout;
		if (http_now_ms() < deadline) {
			json_decref(changes);
			http_park(r, deadline);
			return;
		}
	}
	uint64_t head = mxdb_last_seq(CS(r)->db); /* read after: never behind the answer */
	tbl_reply(r, 200, json_pack("{so sI sI}", "changes", changes, "head", (json_int_t)head, "next",
	                            (json_int_t)(last > since ? last : since)));
}
