/*
 * feed.h: the change feed's two ends inside db/.
 *
 *  - The publisher (feed.c): one nng PUB socket; every committed change is
 *    sent as  room_id UTF-8, one 0x00 byte, the change's CBOR map  (the
 *    contract in DESIGN.md), after commit and in seq order.
 *  - The reliable subscriber (watch.c, behind mxdb_watch_* in mxdb.h): nng
 *    SUB plus catch-up reads, so that PUB/SUB drops never lose a change.
 *    Catch-up reads go through a watch_source: in-process (the engine's
 *    mxdb_changes_since) or remote (watch_http.c: GET /_mxdb/v1/changes).
 *
 * Records travel inside the subscriber as jansson objects with the CBOR
 * map's keys (seq, room_seq, room, type, key, event, prev, sender, ts,
 * content, cause): the nng record, the HTTP catch-up answer and the
 * in-process change all become that one shape.
 */
#ifndef MX_FEED_H
#define MX_FEED_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <nng/nng.h>

#include "err.h"

#define FEED_SENDBUF 8192 /* PUB drops when a subscriber's queue is full */
#define FEED_RECVBUF 1024

typedef struct feed_pub feed_pub;

/* Opens the PUB socket and listens on url ("tcp://127.0.0.1:8009", "ipc://..."). */
mxdb_status feed_pub_open(feed_pub **out, const char *url, mxdb_error *err);
/* Sends one record; never blocks (PUB drops for slow subscribers). */
mxdb_status feed_pub_send(feed_pub *p, const char *room, const unsigned char *cbor, size_t len,
                          mxdb_error *err);
void feed_pub_close(feed_pub *p);

/* nng_close, but never waits more than FEED_CLOSE_WAIT_S (see feed.c). */
#define FEED_CLOSE_WAIT_S 2
void feed_sock_close(nng_socket sock);

/* A change as the record object (content parsed from its JSON text). */
mxdb_status feed_change_json(const mxdb_change *c, json_t **out, mxdb_error *err);
/* The reverse, for mxdb_watch: fills c with pointers into rec; the content
 * text is written into *content_buf (malloc'd, replaced on each call). */
mxdb_status feed_json_change(const json_t *rec, mxdb_change *c, char **content_buf, mxdb_error *err);

/* Splits an nng feed message into its room and its record (a JSON object). */
mxdb_status feed_msg_parse(const void *data, size_t len, json_t **rec, mxdb_error *err);

/* Where a catch-up read stands: head = the newest seq the source knows;
 * next = the seq up to which it looked (records it left out, e.g. of tables
 * the caller may not read, included), 0 when it does not say. */
typedef struct watch_pos {
	uint64_t head, next;
} watch_pos;

/* Where the subscriber reads what it missed. `since` answers the records
 * after seq (one room, or all when room is NULL), at most limit of them, in
 * seq order, as a new JSON array, and where it stands. limit 0 asks for the
 * position only. */
typedef struct watch_source_ops {
	mxdb_status (*since)(void *src, uint64_t seq, const char *room, int limit, json_t **records,
	                     watch_pos *pos, mxdb_error *err);
	void (*close)(void *src);
} watch_source_ops;

/* The remote source: base_url "http://127.0.0.1:8008", token may be NULL. */
mxdb_status watch_http_source(const char *base_url, const char *token, void **src,
                              const watch_source_ops **ops, mxdb_error *err);

/* A change record's integer field (0 when absent). */
uint64_t feed_rec_u64(const json_t *rec, const char *key);

#endif
