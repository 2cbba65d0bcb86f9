/*
 * fed_outlier.h: the outliers of a gap (spec server-server-api,
 * "Retrieving events"): events we hold without knowing the state before
 * them, fetched because the state after a missing prev event names them
 * (or an auth chain does). Stored like a send_join answer's (events.outlier
 * = 1, state group 0): visible to auth lookups and as winners in state
 * maps, but in no timeline (RD_IN_TIMELINE), no change record, never a
 * forward extremity; as a prev event one counts as missing. Also the
 * backward extremities of a gap (fed_backward) and the placing of an
 * outlier once its prev events are here. Writer thread only.
 */
#ifndef MX_FED_OUTLIER_H
#define MX_FED_OUTLIER_H

#include <stdbool.h>
#include <jansson.h>

#include "engine.h"
#include "fed_room.h"
#include "stateres.h"

/* Stores ev (takes it) as an outlier of room, after checking it against
 * its own auth events (through lookup; all must be there: else why is set
 * and nothing is stored). One that fails the rules is stored rejected.
 * Already stored: nothing happens. */
mxdb_status fed_outlier_store(mxdb *db, eng_room *room, const sr_lookup *lookup, ev_t *ev,
                              char *why, size_t cap, mxdb_error *err);

/* Writes ev's events row as an outlier at db->next_pos (and moves it on):
 * no checks, no state. */
mxdb_status fed_outlier_insert(mxdb *db, eng_room *room, const ev_t *ev, mxdb_error *err);

/* Is event_id a backward extremity (cited by an outlier or an event placed
 * over a gap, not placed itself): an event that arrives late? */
mxdb_status fed_outlier_is_backward(store_conn *w, const char *event_id, bool *yes, mxdb_error *err);

/* The event arrived and is placed: no backward extremity any more. */
mxdb_status fed_outlier_arrived(store_conn *w, const char *event_id, mxdb_error *err);

/* Gives the outlier ev (still owned by the caller) of room the state group
 * sg (the state after it, computed now that its prev events are here) and
 * its edges: it joins the timeline where it was stored, and room's current
 * state group stays in force. rejected: it failed the auth rules against
 * the state before it. */
mxdb_status fed_outlier_promote(store_conn *w, const eng_room *room, const ev_t *ev, int64_t sg,
                                bool rejected, mxdb_error *err);

/* Stores fill's outliers in order (fed_outlier_store; *rv is set to each
 * one's room version, as lookup reads stored events in it) and puts into
 * given (missing prev event ID -> state
 * map, owned by given) the states fill names. */
mxdb_status fed_outlier_take(mxdb *db, const sr_lookup *lookup, const mx_room_version **rv,
                             fed_gap_fill *fill, mx_map *given, mxdb_error *err);

/* The state after a missing prev event as a state map (new): the events
 * named by ids (a JSON array of event IDs, all findable through lookup),
 * and prev_id itself when it is a findable state event. */
mxdb_status fed_outlier_state(const sr_lookup *lookup, const json_t *ids, const char *prev_id,
                              mx_map **out, mxdb_error *err);

#endif
