/*
 * fed_state.h: the graph arithmetic of replication, over in-memory state
 * maps (map_state_key -> owned char * event ID, as db/stateres.h) and an
 * event lookup: the state before an event (its prev events' states merged
 * by state resolution), authorizing a remote event (spec receipt checks 4
 * and 5), applying an event to a state, and the rows whose winner changed
 * between two states. No storage: the engine loads and stores the maps.
 */
#ifndef MX_FED_STATE_H
#define MX_FED_STATE_H

#include "auth.h"
#include "stateres.h"

/* A deep copy of a state map (NULL on OOM). */
mx_map *fed_state_copy(const mx_map *state);

/* The state before an event whose prev events have the states after_prev[i]:
 * a copy when n == 1, else their resolution. n == 0 (the create event): an
 * empty state. *out is new. */
mxdb_status fed_state_before(const mx_room_version *rv, mx_map *const *after_prev, size_t n,
                             const sr_lookup *lookup, mx_map **out, mxdb_error *err);

/* Adds ev to state (in place) when it is an accepted state event. */
mxdb_status fed_state_apply(mx_map *state, const ev_t *ev, mxdb_error *err);

/* An auth_state over a state map; ctx keeps what it points to. */
typedef struct fed_map_ctx {
	const mx_map *state;
	const sr_lookup *lookup;
} fed_map_ctx;
void fed_map_auth_state(fed_map_ctx *ctx, const mx_map *state, const sr_lookup *lookup,
                        auth_state *out);

/* Receipt checks 4 and 5: ev passes the auth rules against its own auth
 * events, then (before not NULL) against the state before it.
 * MXDB_EFORBIDDEN: reject the event. */
mxdb_status fed_authorize(const ev_t *ev, const auth_state *before, const sr_lookup *lookup,
                          mxdb_error *err);

/* Calls fn for each key whose event differs between old and new (old_id or
 * new_id NULL when the key is absent on that side), in no set order. */
typedef void (*fed_diff_fn)(void *ctx, const char *key, size_t klen, const char *old_id,
                            const char *new_id);
void fed_state_diff(const mx_map *old_state, const mx_map *new_state, fed_diff_fn fn, void *ctx);

#endif
