/*
 * watch.h: the reliable subscriber of watch.c, in db/'s own terms (records
 * as jansson objects). include/mxdb.h wraps it as mxdb_watch_*.
 */
#ifndef MX_WATCH_H
#define MX_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "feed.h"

#define WATCH_NOW UINT64_MAX /* start at the newest change, deliver what follows */

typedef struct watch watch;

typedef struct watch_config {
	const char *feed_url; /* the PUB socket; NULL or "" = poll the source only */
	const char *room;     /* one room ID, or NULL for all rooms */
	uint64_t since;       /* deliver changes with seq > since, or WATCH_NOW */
	int recv_buf;         /* nng receive queue in messages (default FEED_RECVBUF) */
	int idle_check_ms;    /* catch-up this long after the last feed message (default 200),
	                         then every second while the feed stays quiet */
} watch_config;

typedef struct watch_stats {
	uint64_t delivered; /* records handed out */
	uint64_t received;  /* feed messages read */
	uint64_t gaps;      /* feed records that revealed a hole */
	uint64_t catchups;  /* reads from the source */
	uint64_t bad;       /* feed messages that did not parse */
} watch_stats;

/* Subscribes, reads the position, and owns src (closed by watch_close) on success. */
mxdb_status watch_open(watch **out, const watch_config *cfg, void *src, const watch_source_ops *ops,
                       mxdb_error *err);
/* Waits up to timeout_ms for the next change; *out = NULL when none came.
 * The record stays valid until the next call. */
mxdb_status watch_next(watch *w, int timeout_ms, const json_t **out, mxdb_error *err);
uint64_t watch_seq(const watch *w);
watch_stats watch_get_stats(const watch *w);
void watch_close(watch *w);

#endif
