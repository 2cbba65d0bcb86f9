/*
 * table_sse.c: GET /_mxdb/v1/changes?feed=eventsource, the change feed as
 * Server-Sent Events for browsers (the standard EventSource API). Each
 * change is one event: "id: <seq>" and one "data: <record JSON>" line; a
 * reconnecting EventSource sends Last-Event-ID and resumes after it, so a
 * browser misses nothing either. Owns the producer state of one stream.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "table.h"

#define SSE_BATCH 200
#define SSE_KEEPALIVE_MS 15000

typedef struct sse {
	mxdb *db;
	char *user;
	char room[256];      /* "" = every readable room */
	uint64_t last;       /* the last seq looked at */
	json_t *readable;    /* room ID -> bool, for one batch only: a member who
	                        leaves stops receiving at the next batch */
	char *pending;       /* text not yet sent */
	size_t plen, poff;
	int64_t last_write;
} sse;

static void sse_free(void *p)
{
	sse *s = p;
	json_decref(s->readable);
	free(s->user);
	free(s->pending);
	free(s);
}

static void sse_append(sse *s, const char *text, size_t n)
{
	char *nb = realloc(s->pending, s->plen + n + 1);
	if (nb == NULL)
		return;
	s->pending = nb;
	memcpy(s->pending + s->plen, text, n);
	s->plen += n;
	s->pending[s->plen] = '\0';
}

static int sse_change(void *ctx, const mxdb_change *c)
{
	sse *s = ctx;
	s->last = c->seq;
	json_t *rec;
	if ((!s->room[0] && !tbl_readable_cached(s->db, s->readable, c->room, s->user)) ||
	    feed_change_json(c, &rec, NULL) != MXDB_OK)
		return 0;
	char *data = json_dumps(rec, JSON_COMPACT);
	json_decref(rec);
	if (data == NULL)
		return 0;
	char head[64];
	int n = snprintf(head, sizeof(head), "id: %llu\ndata: ", (unsigned long long)c->seq);
	sse_append(s, head, (size_t)n);
	sse_append(s, data, strlen(data)); /* compact JSON holds no raw newline */
	sse_append(s, "\n\n", 2);
	free(data);
	return 0;
}

static long sse_fill(void *ctx, char *buf, size_t max)
{
	sse *s = ctx;
	if (s->poff == s->plen) {
		s->poff = s->plen = 0;
		json_object_clear(s->readable);
		if (mxdb_changes_since(s->db, s->last, s->room[0] ? s->room : NULL, SSE_BATCH, sse_change, s,
		                       NULL) != MXDB_OK)
			return -1; /* the browser reconnects with Last-Event-ID */
		if (s->plen == 0 && http_now_ms() - s->last_write >= SSE_KEEPALIVE_MS)
			sse_append(s, ": keepalive\n\n", 13);
		if (s->plen == 0)
			return 0;
	}
	size_t n = s->plen - s->poff < max ? s->plen - s->poff : max;
	memcpy(buf, s->pending + s->poff, n);
	s->poff += n;
	s->last_write = http_now_ms();
	return (long)n;
}

void tbl_changes_sse(http_req *r)
{
	sse *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		http_reply_error(r, 500, "M_UNKNOWN", "out of memory");
		return;
	}
	s->db = CS(r)->db;
	s->user = r->user_id ? strdup(r->user_id) : NULL;
	s->readable = json_object();
	s->last_write = http_now_ms();
	const char *room = http_query(r, "room");
	if (room != NULL && (!tbl_room(r, room, s->room) || !tbl_require_read(r, s->room))) {
		sse_free(s);
		return;
	}
	/* where to start: after Last-Event-ID (a reconnect), after ?since=, or now */
	const char *from = http_header(r, "Last-Event-ID");
	if (from == NULL)
		from = http_query(r, "since");
	if (from != NULL) {
		char *end;
		errno = 0;
		s->last = strtoull(from, &end, 10);
		if (*from == '\0' || *end != '\0' || errno != 0) {
			sse_free(s);
			http_reply_error(r, 400, "M_INVALID_PARAM", "Last-Event-ID / since: a seq number");
			return;
		}
	} else {
		s->last = mxdb_last_seq(s->db);
	}
	sse_append(s, "retry: 2000\n\n", 13); /* reconnect quickly after a drop */
	http_reply_stream(r, "text/event-stream", sse_fill, s, sse_free, SSE_KEEPALIVE_MS);
}
