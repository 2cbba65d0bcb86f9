/*
 * table.h: the native table API (/_mxdb/v1, docs/tables.md): tables as
 * rooms, rows as state events, compare-and-set, scans, row history, and the
 * change feed over HTTP (long-poll catch-up, Server-Sent Events). One route
 * table; handlers in table*.c share the helpers below. Access rules are the
 * Matrix ones: reads need membership (or a world_readable table), writes go
 * through the engine's auth rules (power levels).
 */
#ifndef MX_TABLE_H
#define MX_TABLE_H

#include <stdbool.h>
#include <jansson.h>

#include "cs.h"
#include "http.h"
#include "mxdb.h"

extern const http_routes tbl_routes;

/* The nng URL the daemon publishes on, told to clients (GET /_mxdb/v1/feed). */
void tbl_set_feed_url(const char *url);
const char *tbl_feed_url(void);

/* ---- helpers (table.c) ---- */

/* Resolves {room} (ID or alias) into room_id; replies 404 and returns false
 * when unknown. */
bool tbl_room(http_req *r, const char *room, char room_id[256]);
/* Whether user may read the room: joined, or the room is world_readable. */
bool tbl_readable(mxdb *db, const char *room_id, const char *user);
/* tbl_readable remembered in cache (room ID -> bool) while the cache lives:
 * one request, or one batch of a stream, so membership changes still count. */
bool tbl_readable_cached(mxdb *db, json_t *cache, const char *room_id, const char *user);
/* tbl_readable, replying 403 when not. */
bool tbl_require_read(http_req *r, const char *room_id);
/* The request body as JSON (application/json, the default) or CBOR
 * (application/cbor); replies 400 and returns NULL when it is neither. */
json_t *tbl_body(http_req *r);
/* Whether the client asked for CBOR (Accept: application/cbor). */
bool tbl_wants_cbor(http_req *r);
/* Replies with v as JSON or CBOR, as the client asked; takes the reference. */
void tbl_reply(http_req *r, int status, json_t *v);
/* Replies with a failed call's status and message. */
void tbl_fail(http_req *r, mxdb_status st, const mxdb_error *e);

/* ---- handlers ---- */
void tbl_rows_write(http_req *r);   /* PUT and DELETE .../rows/{type}/{key} */
void tbl_rows_get(http_req *r);     /* GET .../rows/{type}/{key}[?history=true] */
void tbl_rows_scan(http_req *r);    /* GET .../rows */
void tbl_changes(http_req *r);      /* GET /_mxdb/v1/changes */
void tbl_changes_sse(http_req *r);  /* ... ?feed=eventsource (table_sse.c) */

#endif
