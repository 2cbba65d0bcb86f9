/*
 * auth.h: the Matrix authorization rules (rooms v10, v11, v12: every numbered
 * rule of the spec), written once; the per-version differences come from the
 * room-version table. Pure functions over events: no storage, no I/O.
 */
#ifndef MX_AUTH_H
#define MX_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ev.h"

/* The state an event is checked against. get() answers the event holding
 * (type, state_key) in that state, or NULL. event() looks an event up by ID
 * (NULL when unknown).
 *
 * event() may be NULL for rooms v10/v11: auth_check then skips the rules
 * about the event's own auth_events list (duplicates, entries the selection
 * algorithm would not pick, rejected entries, foreign room IDs), which need
 * those events by ID. Give it whenever the auth events are at hand: on
 * receipt of a PDU, and in state resolution. Room v12 names its create event
 * by the room ID and never lists it in auth_events; there event() finds it
 * (without event(), get("m.room.create", "") must answer it).
 *
 * room_id: the room whose state this is. auth_check takes it from the event;
 * auth_user_power needs it only for room v12 (to find the create event and
 * so the creators) when get() does not answer the create event. May be NULL. */
typedef struct auth_state {
	const ev_t *(*get)(void *ctx, const char *type, const char *state_key);
	const ev_t *(*event)(void *ctx, const char *event_id);
	void *ctx;
	const char *room_id;
} auth_state;

/* MXDB_OK if the event passes the auth rules against state, else
 * MXDB_EFORBIDDEN with the rule that refused it in err->message.
 *
 * The rule "a join with join_authorised_via_users_server must be validly
 * signed by that user's server" is checked here only as far as a pure
 * function can: a signature from that server must be present. Verifying it
 * cryptographically belongs to the signature checks on receipt, which must
 * include that server (auth_extra_signer). */
mxdb_status auth_check(const ev_t *ev, const auth_state *state, mxdb_error *err);

/* The server (besides the sender's) whose signature the event must carry:
 * the join_authorised_via_users_server user's server on a restricted join,
 * or NULL. Points into ev. */
const char *auth_extra_signer(const ev_t *ev);

/* The state keys an event's auth_events must come from (spec: "Auth events
 * selection"): create (not for v12), power levels, the sender's member event,
 * and for m.room.member the target's member, join rules, the third-party
 * invite and the join_authorised_via_users_server's member. Fills up to cap
 * (type, state_key) pairs, each at most once; returns how many (at most
 * AUTH_MAX_KEYS). Strings point into the arguments or static storage.
 * content may differ from ev->content (when building an event). */
#define AUTH_MAX_KEYS 7
typedef struct auth_key {
	const char *type;
	const char *state_key;
} auth_key;
size_t auth_types_for_event(const mx_room_version *rv, const char *type, const char *state_key,
                            const char *sender, const json_t *content, auth_key *out, size_t cap);

/* A user's power level in a state (v12 creators: AUTH_POWER_INFINITE). */
#define AUTH_POWER_INFINITE INT64_MAX
int64_t auth_user_power(const auth_state *state, const mx_room_version *rv, const char *user_id);

/* A level of the state's power levels ("invite", "kick"...), or def. */
int64_t auth_state_level(const auth_state *state, const mx_room_version *rv, const char *key,
                         int64_t def);
#define AUTH_INVITE_LEVEL_DEFAULT 0

/* Does the state's join rule make joins restricted in room version rv
 * ("restricted", or "knock_restricted" where the version has it)? *allow
 * gets the rule's allow list (NULL when absent or not an array). */
bool auth_join_restricted(const auth_state *state, const mx_room_version *rv,
                          const json_t **allow);

/* Spec "Handling redactions" (not an auth rule since room v3): whether a
 * redaction that passed auth_check may be applied to target. True when the
 * redaction's sender has the redact level in state (the state at the
 * redaction) or shares the target sender's server. */
bool auth_redaction_applies(const ev_t *redaction, const ev_t *target, const auth_state *state);

/* Is s a valid user ID ("@localpart:server_name", at most 255 bytes)? */
bool auth_valid_user_id(const char *s);

#endif
