/*
 * watch.c: the reliable change-feed subscriber behind mxdb_watch_*. Owns
 * the SUB socket, the position (last delivered seq and room_seq) and the
 * queue of records read by catch-up. Never delivers a change twice or out
 * of order: every record is checked against the position, and anything the
 * feed cannot prove continuous (a gap in seq for all rooms, in room_seq for
 * one room, a late start, a quiet spell after activity) is read again from
 * the source, which is the authoritative log.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "feed.h"
#include "watch.h"

#define WATCH_BATCH 1000          /* records per catch-up read */
#define WATCH_QUIET_POLL_MS 1000  /* catch-up period while the feed stays quiet */

struct watch {
	nng_socket sock;
	bool have_sock;
	char *room;                   /* NULL: every room */
	void *src;
	const watch_source_ops *ops;
	uint64_t last_seq;            /* the last delivered change */
	uint64_t last_room_seq;       /* one-room mode; 0 = not known yet */
	uint64_t skip_to;             /* after the queue: the catch-up looked this far */
	json_t *queue;                /* records from catch-up, seq order */
	size_t qpos;
	json_t *current;              /* the record handed out last */
	bool need_catchup;
	int idle_ms;
	int64_t next_check_ms;        /* monotonic ms of the next catch-up while quiet */
	watch_stats stats;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mxdb_status sub_open(watch *w, const char *url, int recvbuf, mxdb_error *err)
{
	int rv = nng_sub0_open(&w->sock);
	if (rv != 0)
		return mx_fail(err, MXDB_EIO, "watch: nng_sub0_open: %s", nng_strerror(rv));
	w->have_sock = true;
	/* The topic is the room ID with its NUL, so "!a:x" never matches "!a:xy". */
	const char *topic = w->room ? w->room : "";
	size_t tlen = w->room ? strlen(w->room) + 1 : 0;
	if ((rv = nng_socket_set_int(w->sock, NNG_OPT_RECVBUF, recvbuf)) != 0 ||
	    (rv = nng_socket_set(w->sock, NNG_OPT_SUB_SUBSCRIBE, topic, tlen)) != 0)
		return mx_fail(err, MXDB_EIO, "watch: subscribe: %s", nng_strerror(rv));
	/* Wait for the connection when the publisher is up, so the catch-up
	 * that follows overlaps the feed; when it is not, keep dialing in the
	 * background and rely on catch-up until it is. */
	if (nng_dial(w->sock, url, NULL, 0) != 0 &&
	    (rv = nng_dial(w->sock, url, NULL, NNG_FLAG_NONBLOCK)) != 0)
		return mx_fail(err, MXDB_EIO, "watch: dial %s: %s", url, nng_strerror(rv));
	return MXDB_OK;
}

mxdb_status watch_open(watch **out, const watch_config *cfg, void *src, const watch_source_ops *ops,
                       mxdb_error *err)
{
	if (out == NULL || cfg == NULL || ops == NULL)
		return mx_fail(err, MXDB_EINVAL, "watch: missing argument");
	watch *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	w->src = src;
	w->ops = ops;
	w->idle_ms = cfg->idle_check_ms > 0 ? cfg->idle_check_ms : 200;
	w->queue = json_array();
	mxdb_status st = MXDB_OK;
	if (w->queue == NULL || (cfg->room && (w->room = strdup(cfg->room)) == NULL))
		st = mx_fail(err, MXDB_ENOMEM, "out of memory");
	/* Subscribe first, then read the position: whatever commits in between
	 * arrives on the feed or is found by the catch-up. */
	if (st == MXDB_OK && cfg->feed_url != NULL && *cfg->feed_url)
		st = sub_open(w, cfg->feed_url, cfg->recv_buf > 0 ? cfg->recv_buf : FEED_RECVBUF, err);
	if (st == MXDB_OK && cfg->since == WATCH_NOW) {
		json_t *none = NULL;
		watch_pos pos = {0, 0};
		st = ops->since(src, 0, w->room, 0, &none, &pos, err); /* limit 0: the position only */
		w->last_seq = pos.head;
		json_decref(none);
	} else {
		w->last_seq = cfg->since;
	}
	if (st != MXDB_OK) {
		w->src = NULL; /* the caller still owns src on failure */
		watch_close(w);
		return st;
	}
	w->need_catchup = true;
	w->next_check_ms = now_ms() + w->idle_ms;
	*out = w;
	return MXDB_OK;
}

void watch_close(watch *w)
{
	if (w == NULL)
		return;
	if (w->have_sock)
		feed_sock_close(w->sock);
	if (w->src != NULL && w->ops->close != NULL)
		w->ops->close(w->src);
	json_decref(w->queue);
	json_decref(w->current);
	free(w->room);
	free(w);
}

/* Reads what the feed may have missed after last_seq into the queue. */
static mxdb_status catch_up(watch *w, mxdb_error *err)
{
	json_t *recs = NULL;
	watch_pos pos = {0, 0};
	mxdb_status st = w->ops->since(w->src, w->last_seq, w->room, WATCH_BATCH, &recs, &pos, err);
	if (st != MXDB_OK)
		return st;
	w->stats.catchups++;
	json_array_clear(w->queue);
	w->qpos = 0;
	size_t i;
	json_t *r;
	json_array_foreach(recs, i, r) json_array_append(w->queue, r);
	/* a full batch means there is more: read again once these are out */
	w->need_catchup = json_array_size(recs) >= WATCH_BATCH;
	/* all rooms: records the source left out are no gap to read again */
	w->skip_to = w->room == NULL ? pos.next : 0;
	json_decref(recs);
	return MXDB_OK;
}

/* Takes a record if it is the next one; drops what was already delivered. */
static bool deliver(watch *w, json_t *rec)
{
	uint64_t seq = feed_rec_u64(rec, "seq");
	if (seq <= w->last_seq)
		return false;
	w->last_seq = seq;
	if (w->room)
		w->last_room_seq = feed_rec_u64(rec, "room_seq");
	json_decref(w->current);
	w->current = json_incref(rec);
	w->stats.delivered++;
	return true;
}

/* Whether a feed record continues the position without a hole. */
static bool continuous(const watch *w, const json_t *rec)
{
	if (w->room == NULL)
		return feed_rec_u64(rec, "seq") == w->last_seq + 1;
	return w->last_room_seq != 0 && feed_rec_u64(rec, "room_seq") == w->last_room_seq + 1;
}

/* One feed message: delivered when continuous, else a catch-up is due. */
static bool on_message(watch *w, nng_msg *m)
{
	json_t *rec = NULL;
	bool got = false;
	w->stats.received++;
	if (feed_msg_parse(nng_msg_body(m), nng_msg_len(m), &rec, NULL) != MXDB_OK) {
		w->stats.bad++;
	} else if (feed_rec_u64(rec, "seq") <= w->last_seq) {
		/* already delivered by a catch-up */
	} else if (continuous(w, rec)) {
		got = deliver(w, rec);
	} else {
		w->stats.gaps++;
		w->need_catchup = true;
	}
	json_decref(rec);
	nng_msg_free(m);
	return got;
}

mxdb_status watch_next(watch *w, int timeout_ms, const json_t **out, mxdb_error *err)
{
	if (w == NULL || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "watch: missing argument");
	*out = NULL;
	int64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	for (;;) {
		while (w->qpos < json_array_size(w->queue)) {
			json_t *rec = json_array_get(w->queue, w->qpos++);
			if (deliver(w, rec)) {
				*out = w->current;
				return MXDB_OK;
			}
		}
		if (w->skip_to > w->last_seq && !w->need_catchup)
			w->last_seq = w->skip_to;
		w->skip_to = 0;
		if (w->need_catchup) {
			mxdb_status st = catch_up(w, err);
			if (st != MXDB_OK)
				return st;
			continue;
		}
		/* A quiet feed: the last records may have been dropped with
		 * nothing after them to reveal the gap, or the publisher may be
		 * down or out of reach. Read the source idle_ms after the last
		 * message, then every WATCH_QUIET_POLL_MS while it stays quiet
		 * (without a feed: every idle_ms). */
		int64_t now = now_ms();
		if (now >= w->next_check_ms) {
			w->next_check_ms = now + (w->have_sock ? WATCH_QUIET_POLL_MS : w->idle_ms);
			w->need_catchup = true;
			continue;
		}
		if (now >= deadline)
			return MXDB_OK;
		int64_t wait = deadline - now;
		if (w->next_check_ms - now < wait)
			wait = w->next_check_ms - now;
		if (!w->have_sock) {
			struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000};
			nanosleep(&ts, NULL);
			continue;
		}
		nng_socket_set_ms(w->sock, NNG_OPT_RECVTIMEO, (nng_duration)(wait > 0 ? wait : 0));
		nng_msg *m;
		int rv = nng_recvmsg(w->sock, &m, 0);
		if (rv == NNG_ETIMEDOUT)
			continue;
		if (rv != 0)
			return mx_fail(err, MXDB_EIO, "watch: receive: %s", nng_strerror(rv));
		w->next_check_ms = now_ms() + w->idle_ms;
		if (on_message(w, m)) {
			*out = w->current;
			return MXDB_OK;
		}
	}
}

uint64_t watch_seq(const watch *w)
{
	return w->last_seq;
}

watch_stats watch_get_stats(const watch *w)
{
	return w->stats;
}
