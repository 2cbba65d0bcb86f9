/*
 * feed.c: the change feed publisher (the nng PUB socket of DESIGN.md) and
 * the parser of its messages. Owns the socket and the message framing;
 * never encodes a change itself (db/change.c does) and never waits for a
 * subscriber: PUB drops, the subscribers catch up.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "cborjson.h"
#include "feed.h"

struct feed_pub {
	nng_socket sock;
};

mxdb_status feed_pub_open(feed_pub **out, const char *url, mxdb_error *err)
{
	if (out == NULL || url == NULL || *url == '\0')
		return mx_fail(err, MXDB_EINVAL, "feed: no URL to listen on");
	feed_pub *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	int rv = nng_pub0_open(&p->sock);
	if (rv != 0) {
		free(p);
		return mx_fail(err, MXDB_EIO, "feed: nng_pub0_open: %s", nng_strerror(rv));
	}
	/* The default queue of 16 loses most of a burst; 8192 absorbs one. */
	if ((rv = nng_socket_set_int(p->sock, NNG_OPT_SENDBUF, FEED_SENDBUF)) != 0 ||
	    (rv = nng_listen(p->sock, url, NULL, 0)) != 0) {
		nng_close(p->sock);
		free(p);
		return mx_fail(err, MXDB_EIO, "feed: listen on %s: %s", url, nng_strerror(rv));
	}
	*out = p;
	return MXDB_OK;
}

mxdb_status feed_pub_send(feed_pub *p, const char *room, const unsigned char *cbor, size_t len,
                          mxdb_error *err)
{
	nng_msg *m;
	size_t rl = strlen(room);
	int rv = nng_msg_alloc(&m, 0);
	if (rv == 0 && (rv = nng_msg_append(m, room, rl + 1)) == 0 && /* with its NUL */
	    (rv = nng_msg_append(m, cbor, len)) == 0 && (rv = nng_sendmsg(p->sock, m, 0)) == 0)
		return MXDB_OK;
	if (m != NULL && rv != 0)
		nng_msg_free(m);
	return mx_fail(err, MXDB_EIO, "feed: send: %s", nng_strerror(rv));
}

void feed_pub_close(feed_pub *p)
{
	if (p == NULL)
		return;
	feed_sock_close(p->sock);
	free(p);
}

/* nng 1.5.2 can deadlock inside nng_close (nanomsg/nng#1543, fixed after
 * that release): the closing thread waits forever for the reaper. Closing
 * on a helper thread and waiting a bounded time keeps the caller (and so
 * mxdb_close, mxdb_watch_close, process exit) from hanging with it; in the
 * rare stuck case the helper thread and the socket are abandoned. */
typedef struct closer {
	nng_socket sock;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int refs; /* the caller and the helper; the last one frees */
} closer;

static void closer_release(closer *c)
{
	pthread_mutex_lock(&c->mu);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&c->mu);
	if (last) {
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c);
	}
}

static void *close_main(void *arg)
{
	closer *c = arg;
	nng_close(c->sock);
	pthread_mutex_lock(&c->mu);
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	closer_release(c);
	return NULL;
}

void feed_sock_close(nng_socket sock)
{
	closer *c = calloc(1, sizeof(*c));
	pthread_t th;
	if (c == NULL) {
		nng_close(sock);
		return;
	}
	c->sock = sock;
	c->refs = 2;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&th, NULL, close_main, c) != 0) {
		free(c);
		nng_close(sock);
		return;
	}
	pthread_detach(th);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += FEED_CLOSE_WAIT_S;
	pthread_mutex_lock(&c->mu);
	while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
		;
	pthread_mutex_unlock(&c->mu);
	closer_release(c);
}

mxdb_status feed_msg_parse(const void *data, size_t len, json_t **rec, mxdb_error *err)
{
	const unsigned char *d = data;
	const unsigned char *nul = memchr(d, '\0', len);
	if (nul == NULL)
		return mx_fail(err, MXDB_EBADJSON, "feed message without a room prefix");
	json_t *r;
	mxdb_status st = cbj_decode(nul + 1, len - (size_t)(nul + 1 - d), &r, err);
	if (st != MXDB_OK)
		return st;
	const char *room = json_string_value(json_object_get(r, "room"));
	if (!json_is_object(r) || json_integer_value(json_object_get(r, "seq")) <= 0 || room == NULL ||
	    strlen(room) != (size_t)(nul - d) || memcmp(room, d, (size_t)(nul - d)) != 0) {
		json_decref(r);
		return mx_fail(err, MXDB_EBADJSON, "feed message is not a change record of its room");
	}
	*rec = r;
	return MXDB_OK;
}

static const char *const cause_names[] = {
	[MXDB_CAUSE_LOCAL] = "local",
	[MXDB_CAUSE_REMOTE] = "remote",
	[MXDB_CAUSE_MERGE] = "merge",
};

mxdb_status feed_change_json(const mxdb_change *c, json_t **out, mxdb_error *err)
{
	json_t *content = NULL;
	if (c->content != NULL) {
		json_error_t je;
		content = json_loads(c->content, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(content)) {
			json_decref(content);
			return mx_fail(err, MXDB_EINTERNAL, "change %llu: content is not a JSON object: %s",
			               (unsigned long long)c->seq, je.text);
		}
	}
	unsigned cause = (unsigned)c->cause < 3 ? (unsigned)c->cause : 0;
	json_t *r = json_pack("{sI sI ss ss ss ss ss? ss sI so* ss}", "seq", (json_int_t)c->seq, "room_seq",
	                      (json_int_t)c->room_seq, "room", c->room, "type", c->type, "key", c->key,
	                      "event", c->event, "prev", c->prev,
	                      "sender", c->sender, "ts", (json_int_t)c->ts, "content",
	                      content ? content : json_null(), "cause", cause_names[cause]);
	if (r == NULL)
		return mx_fail(err, MXDB_ENOMEM, "change %llu: cannot build the record",
		               (unsigned long long)c->seq);
	*out = r;
	return MXDB_OK;
}

mxdb_status feed_json_change(const json_t *rec, mxdb_change *c, char **content_buf, mxdb_error *err)
{
	memset(c, 0, sizeof(*c));
	c->seq = feed_rec_u64(rec, "seq");
	c->room_seq = feed_rec_u64(rec, "room_seq");
	c->room = json_string_value(json_object_get(rec, "room"));
	c->type = json_string_value(json_object_get(rec, "type"));
	c->key = json_string_value(json_object_get(rec, "key"));
	c->event = json_string_value(json_object_get(rec, "event"));
	c->prev = json_string_value(json_object_get(rec, "prev"));
	c->sender = json_string_value(json_object_get(rec, "sender"));
	c->ts = json_integer_value(json_object_get(rec, "ts"));
	const char *cause = json_string_value(json_object_get(rec, "cause"));
	for (unsigned i = 0; cause && i < 3; i++)
		if (strcmp(cause, cause_names[i]) == 0)
			c->cause = (mxdb_cause)i;
	free(*content_buf);
	*content_buf = NULL;
	json_t *content = json_object_get(rec, "content");
	if (json_is_object(content)) {
		*content_buf = json_dumps(content, JSON_COMPACT);
		if (*content_buf == NULL)
			return mx_fail(err, MXDB_ENOMEM, "out of memory");
		c->content = *content_buf;
	}
	if (c->seq == 0 || c->room == NULL || c->type == NULL || c->key == NULL || c->event == NULL)
		return mx_fail(err, MXDB_EBADJSON, "not a change record");
	return MXDB_OK;
}

uint64_t feed_rec_u64(const json_t *rec, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(rec, key));
	return v > 0 ? (uint64_t)v : 0;
}
