/*
 * http_stream.c: streamed replies (Server-Sent Events and the like) on the
 * HTTP server. A stream's producer is asked for bytes whenever the socket
 * can take them; when it has none, the connection is suspended on the
 * server's parked list and resumed by the next http_wake or after the
 * producer's keepalive interval, so a quiet stream costs no thread and no
 * polling. Owns only the glue between libmicrohttpd and the producer.
 */
#include <stdlib.h>

#include "http.h"
#include "http_int.h"

typedef struct http_stream {
	http_server *s;
	http_conn *c;
	http_stream_fn fn;
	void *ctx;
	void (*ctx_free)(void *);
	int keepalive_ms;
} http_stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	http_stream *st = cls;
	http_server *s = st->s;
	(void)pos;
	uint64_t gen = atomic_load(&s->gen);
	if (atomic_load(&s->closing))
		return MHD_CONTENT_READER_END_OF_STREAM;
	long n = st->fn(st->ctx, buf, max);
	if (n > 0)
		return (ssize_t)n;
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* Nothing to send: sleep on the parked list unless a wake-up came
	 * while the producer looked (then look again at once). */
	pthread_mutex_lock(&s->mu);
	if (s->gen == gen && !atomic_load(&s->closing)) {
		st->c->req.park_deadline = http_now_ms() + st->keepalive_ms;
		http_park_locked(s, st->c);
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void stream_free(void *cls)
{
	http_stream *st = cls;
	if (st->ctx_free != NULL)
		st->ctx_free(st->ctx);
	free(st);
}

void http_reply_stream(http_req *r, const char *content_type, http_stream_fn fn, void *ctx,
                       void (*ctx_free)(void *), int keepalive_ms)
{
	http_conn *c = r->conn;
	http_stream *st = calloc(1, sizeof(*st));
	struct MHD_Response *resp = NULL;
	if (st != NULL) {
		*st = (http_stream){r->srv, c, fn, ctx, ctx_free, keepalive_ms > 0 ? keepalive_ms : 15000};
		resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free);
	}
	if (resp == NULL) {
		free(st);
		if (ctx_free != NULL)
			ctx_free(ctx);
		http_reply_error(r, 500, "M_UNKNOWN", "out of memory");
		return;
	}
	MHD_add_response_header(resp, "Content-Type", content_type);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
	for (int i = 0; i < c->nhdr; i++)
		MHD_add_response_header(resp, c->hdr[i][0], c->hdr[i][1]);
	c->resp = resp;
	c->status = 200;
	r->replied = true;
}
