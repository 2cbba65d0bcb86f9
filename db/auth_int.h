/*
 * auth_int.h: what the files of the auth rules share (auth.c runs the rules
 * in the spec's order, auth_member.c the m.room.member rules, auth_power.c
 * power levels). Private to db/auth*.c.
 */
#ifndef MX_AUTH_INT_H
#define MX_AUTH_INT_H

#include "auth.h"

/* One check in progress: the event, its room version and the state events
 * every later rule reads. */
typedef struct auth_ctx {
	const ev_t *ev;
	const mx_room_version *rv;
	const auth_state *st;
	const ev_t *create;      /* the room's create event (never NULL after the create rules) */
	const ev_t *pl;          /* current m.room.power_levels, or NULL */
	int64_t sender_power;
	mxdb_error *err;
} auth_ctx;

/* Refuses the event: MXDB_EFORBIDDEN with the rule in the message. */
#define AUTH_DENY(c, ...) mx_fail((c)->err, MXDB_EFORBIDDEN, __VA_ARGS__)

const ev_t *auth_state_get(const auth_ctx *c, const char *type, const char *state_key);
/* The user's membership in the state ("join", "ban"...) or NULL for none. */
const char *auth_membership(const auth_ctx *c, const char *user_id);
bool auth_membership_is(const auth_ctx *c, const char *user_id, const char *membership);
/* The server name of a user ID (after the first ':'), or "" when malformed. */
const char *auth_user_domain(const char *user_id);
const char *auth_str(const json_t *obj, const char *key);

/* Power levels (auth_power.c). */
int64_t auth_power_of(const auth_ctx *c, const char *user_id);
/* A level from the power-levels content ("invite", "kick"...) or def. */
int64_t auth_level(const auth_ctx *c, const char *key, int64_t def);
/* The level needed to send an event of that type (state or not). */
int64_t auth_send_level(const auth_ctx *c, const char *type, bool is_state);
bool auth_is_creator(const mx_room_version *rv, const ev_t *create, const char *user_id);
const char *auth_room_creator(const mx_room_version *rv, const ev_t *create);
const ev_t *auth_find_create(const auth_state *st, const mx_room_version *rv, const char *room_id);
mxdb_status auth_check_power_levels(auth_ctx *c);
/* v12 rule 1.4: additional_creators, if present, is an array of user IDs. */
bool auth_additional_creators_valid(const json_t *content);

/* m.room.member (auth_member.c). */
mxdb_status auth_check_member(auth_ctx *c);

#define AUTH_INVITE_DEFAULT AUTH_INVITE_LEVEL_DEFAULT
#define AUTH_KICK_DEFAULT 50
#define AUTH_BAN_DEFAULT 50
#define AUTH_REDACT_DEFAULT 50

#endif
