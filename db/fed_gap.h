/*
 * fed_gap.h: what the recovery of gaps in a room's graph needs from the
 * database (docs/replication.md "Gaps"): the forward extremities and the
 * min_depth a get_missing_events request names, whether an event can be
 * built on, and the pending events: received events whose ancestors could
 * not be fetched, kept until those arrive instead of being dropped. Owns
 * the schema of module 'fed_gap' (fed_pending, fed_pending_refs, and
 * fed_backward, whose rows are fed_outlier.c's); never stores a room event.
 */
#ifndef MX_FED_GAP_H
#define MX_FED_GAP_H

#include <jansson.h>
#include <stdbool.h>
#include <sqlite3.h>

#include "mxdb.h"

/* A room keeps at most this many pending events; later ones are dropped
 * (logged by the caller). */
#define FED_PENDING_MAX 2000
/* A pending event whose ancestors never came is forgotten after a week,
 * as long as senders retry a transaction. */
#define FED_PENDING_KEEP_MS (7LL * 24 * 3600 * 1000)

/* Brings the fed_gap tables on db to their newest version. */
mxdb_status fed_gap_migrate(sqlite3 *db, mxdb_error *err);

/* The room's forward extremities: a new JSON array of event IDs. */
mxdb_status fed_room_extremities(mxdb *db, const char *room_id, json_t **ids, mxdb_error *err);

/* The smallest depth of the room's events stored with their state (no
 * outliers): get_missing_events' min_depth (nothing deeper is ours to
 * connect to). 0 when there is none. */
mxdb_status fed_room_min_depth(mxdb *db, const char *room_id, int64_t *depth, mxdb_error *err);

/* Is the event stored with its state known (no outlier: a prev event a
 * new event may build on)? */
mxdb_status fed_room_event_placed(mxdb *db, const char *event_id, bool *placed, mxdb_error *err);

/* Keeps event_id (room room_id, PDU text pdu) until every one of
 * refs[0..n) is stored: the first n_prev are its prev events (stored with
 * their state: no outlier of unknown state), the rest its auth events.
 * MXDB_ETOOLARGE: the room has FED_PENDING_MAX pending already. */
mxdb_status fed_pending_add(sqlite3 *db, const char *room_id, const char *event_id,
                            const char *pdu, const char *const *refs, size_t n, size_t n_prev,
                            long long now_ms, mxdb_error *err);

/* The pending events of room_id: all of them, or (ready_only) those whose
 * refs are all there now (as fed_pending_add says). *pdus is a new JSON object event ID -> PDU. */
mxdb_status fed_pending_load(sqlite3 *db, const char *room_id, bool ready_only, json_t **pdus,
                             mxdb_error *err);

/* Forgets a pending event (stored, rejected, or given up). */
mxdb_status fed_pending_drop(sqlite3 *db, const char *event_id, mxdb_error *err);

/* How many events room_id has pending. */
mxdb_status fed_pending_count(sqlite3 *db, const char *room_id, size_t *n, mxdb_error *err);

#endif
