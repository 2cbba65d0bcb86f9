/*
 * fed_room.h: remote events into the room engine, and what the federation
 * endpoints read from it. Implemented over the engine's internals
 * (db/engine.h); every write runs on the writer thread inside its group
 * commit, so remote and local events are ordered by one writer.
 */
#ifndef MX_FED_ROOM_H
#define MX_FED_ROOM_H

#include <stdbool.h>
#include <jansson.h>

#include "ev.h"
#include "mxdb.h"

typedef struct fed_result {
	mxdb_status status; /* MXDB_OK: stored (or already known) */
	char why[320];
} fed_result;

/* Stores remote events (already through fed_pdu_check) of existing rooms, in
 * the given order: each event's prev and auth events must be stored or come
 * earlier. Each is authorized against its auth events and the state before
 * it; forks are merged by state resolution. Takes the events (frees them).
 * out[i] tells what happened to evs[i]. One group commit for all. */
mxdb_status fed_room_ingest(mxdb *db, ev_t **evs, size_t n, fed_result *out, mxdb_error *err);

/* What the fetcher learned about a gap it could not close (fed_fetch.c):
 * events to store as outliers (fed_outlier.h), and the state after each
 * prev event that stays missing. */
typedef struct fed_gap_fill {
	ev_t **outliers;  /* oldest first (auth events before the events citing them); taken */
	size_t n_outliers;
	json_t *states;   /* missing prev event ID -> JSON array of the IDs of the state after it */
	size_t n_dropped; /* out: outliers not stored (an auth event missing) */
} fed_gap_fill;

/* fed_room_ingest, after storing fill's outliers: an event whose missing
 * prev events all have a state in fill is placed with the state before it
 * resolved from those states (and those of its stored prev events); the
 * missing prev events stay a gap in the graph. */
mxdb_status fed_room_ingest_gap(mxdb *db, ev_t **evs, size_t n, fed_gap_fill *fill,
                                fed_result *out, mxdb_error *err);

/* Creates the room locally from a send_join answer: auth chain and state
 * (PDUs, checked by the caller) are stored as outliers (events.outlier: no
 * state known at them, in no timeline), the answered state becomes the
 * room's current state and the state before our join, then our join is
 * stored. Takes every event. */
mxdb_status fed_room_join_remote(mxdb *db, const mx_room_version *rv, ev_t **chain, size_t n_chain,
                                 ev_t **state, size_t n_state, ev_t *join, mxdb_error *err);

/* The event template for make_join / make_leave: membership event of
 * user_id in room_id over our extremities, unsigned. *rv_id borrowed. */
mxdb_status fed_room_make_membership(mxdb *db, const char *room_id, const char *user_id,
                                     const char *membership, json_t **tmpl, const char **rv_id,
                                     mxdb_error *err);

/* The same for a member event sent by another user (an invite: sender
 * invites user_id). */
mxdb_status fed_room_make_member_event(mxdb *db, const char *room_id, const char *sender,
                                       const char *user_id, const char *membership, json_t **tmpl,
                                       const char **rv_id, mxdb_error *err);

/* An invite of one of our users to a room we do not have (PUT /v2/invite):
 * kept in fed_invites so the user sees it (mxdb_user_rooms) until the room
 * is here. invite_state: JSON array of stripped state. */
mxdb_status fed_invite_store(mxdb *db, const char *user_id, const char *room_id,
                             const char *event_id, const char *sender, const char *invite_state,
                             mxdb_error *err);

/* Forgets user_id's invite to room_id (declined). */
/* A knock of one of our users on a room we do not have (send_knock
 * answered by via), kept in fed_invites like an invite (membership
 * "knock"; knock_state: the stripped state) until an invite replaces it,
 * the room is here or it is rescinded (fed_invite_forget). */
mxdb_status fed_knock_store(mxdb *db, const char *user_id, const char *room_id,
                            const char *event_id, const char *via, const char *knock_state,
                            mxdb_error *err);
/* The server a kept knock went through (*via: new); MXDB_ENOTFOUND when none. */
mxdb_status fed_knock_via(mxdb *db, const char *user_id, const char *room_id, char **via,
                          mxdb_error *err);
mxdb_status fed_invite_forget(mxdb *db, const char *user_id, const char *room_id, mxdb_error *err);

/* send_join / send_leave: stores the membership event, then *state gets the
 * state before it (PDUs) and *auth_chain their auth chain (both arrays;
 * NULL pointers skip them). */
mxdb_status fed_room_accept_membership(mxdb *db, ev_t *ev, json_t **state, json_t **auth_chain,
                                       mxdb_error *err);

/* send_join of a restricted room: does user_id meet one of its allow
 * conditions (MXDB_OK also when the join needs none)? The errors of
 * eng_join_authoriser (MXDB_EFORBIDDEN, MXDB_EUNVERIFIABLE, MXDB_ENOGRANT). */
mxdb_status fed_room_join_check(mxdb *db, const char *room_id, const char *user_id,
                                mxdb_error *err);

/* Is the event stored? */
mxdb_status fed_room_has_event(mxdb *db, const char *event_id, bool *has, mxdb_error *err);
/* Is it stored as an outlier (state before it unknown; false when not stored)? */
mxdb_status fed_room_is_outlier(mxdb *db, const char *event_id, bool *outlier, mxdb_error *err);

/* The servers with a joined member in room_id (malloc'd array of malloc'd
 * names), ours included. */
mxdb_status fed_room_servers(mxdb *db, const char *room_id, char ***servers, size_t *n,
                             mxdb_error *err);

/* State (PDUs) and auth chain at an event (spec: the state before it,
 * "prior to considering any state changes induced by" it), or the current
 * state when event_id is NULL. ids_only: event IDs instead. MXDB_ENOTFOUND
 * for an event not in the room, or an outlier (its state is not known). */
mxdb_status fed_room_state(mxdb *db, const char *room_id, const char *event_id, bool ids_only,
                           json_t **state, json_t **auth_chain, mxdb_error *err);
/* The same, with also_auth (array of event IDs, or NULL) added to the
 * auth chain walk: send_join's answer holds the join's auth chain too. */
mxdb_status fed_room_state_before(mxdb *db, const char *room_id, const char *event_id,
                                  bool ids_only, const json_t *also_auth, json_t **state,
                                  json_t **auth_chain, mxdb_error *err);

#endif
