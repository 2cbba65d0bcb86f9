/*
 * auth.h: the Matrix authorization rules (rooms v10, v11, v12: every numbered
 * rule of the spec), written once; the per-version differences come from the
 * room-version table. Pure functions over events: no storage, no I/O.
 */
#ifndef MX_AUTH_H
#define MX_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "ev.h"

/* The state an event is checked against. get() answers the event holding
 * (type, state_key) in that state, or NULL. event() looks an event up by ID;
 * it is needed only for room v12, whose create event is named by the room ID
 * and never listed in auth_events (may be NULL otherwise). */
typedef struct auth_state {
	const ev_t *(*get)(void *ctx, const char *type, const char *state_key);
	const ev_t *(*event)(void *ctx, const char *event_id);
	void *ctx;
} auth_state;

/* MXDB_OK if the event passes the auth rules against state, else
 * MXDB_EFORBIDDEN with the rule that refused it in err->message. */
mxdb_status auth_check(const ev_t *ev, const auth_state *state, mxdb_error *err);

/* The state keys an event's auth_events must come from (spec: "Auth events
 * selection"): create (not for v12), power levels, the sender's member event,
 * and for m.room.member the target's member, join rules, the third-party
 * invite and the join_authorised_via_users_server's member. Fills up to cap
 * (type, state_key) pairs; returns how many. Strings point into ev or static
 * storage. content may differ from ev->content (when building an event). */
typedef struct auth_key {
	const char *type;
	const char *state_key;
} auth_key;
size_t auth_types_for_event(const mx_room_version *rv, const char *type, const char *state_key,
                            const char *sender, const json_t *content, auth_key *out, size_t cap);

/* A user's power level in a state (v12 creators: AUTH_POWER_INFINITE). */
#define AUTH_POWER_INFINITE INT64_MAX
int64_t auth_user_power(const auth_state *state, const mx_room_version *rv, const char *user_id);

#endif
