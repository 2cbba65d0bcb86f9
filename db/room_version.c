/*
 * room_version.c: the table of supported room versions (10, 11, 12) and
 * their redaction keep-lists, transcribed from the spec's rooms/vN.md and
 * the fragments they include (v9-redactions for v10, v11-redactions for v11
 * and v12). Owns only constant data: no allocation, no state.
 */
#include <string.h>

#include "room_version.h"

/* Top-level keys a redaction keeps. */
static const char *const keep_top_v10[] = {
	"event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
	"signatures", "depth", "prev_events", "prev_state", "auth_events", "origin",
	"origin_server_ts", "membership", NULL,
};
/* v11 stops protecting origin, membership and prev_state. */
static const char *const keep_top_v11[] = {
	"event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
	"signatures", "depth", "prev_events", "auth_events", "origin_server_ts", NULL,
};

static const char *const member[] = {"membership", "join_authorised_via_users_server", NULL};
static const char *const member_nested_v11[] = {"third_party_invite.signed", NULL};
static const char *const create_v10[] = {"creator", NULL};
static const char *const join_rules[] = {"join_rule", "allow", NULL};
static const char *const power_levels_v10[] = {
	"ban", "events", "events_default", "kick", "redact", "state_default", "users",
	"users_default", NULL,
};
static const char *const power_levels_v11[] = {
	"ban", "events", "events_default", "invite", "kick", "redact", "state_default",
	"users", "users_default", NULL,
};
static const char *const history_visibility[] = {"history_visibility", NULL};
static const char *const redaction_v11[] = {"redacts", NULL};

static const mx_redact_rule content_v10[] = {
	{"m.room.member", member, NULL, false},
	{"m.room.create", create_v10, NULL, false},
	{"m.room.join_rules", join_rules, NULL, false},
	{"m.room.power_levels", power_levels_v10, NULL, false},
	{"m.room.history_visibility", history_visibility, NULL, false},
	{NULL, NULL, NULL, false},
};
static const mx_redact_rule content_v11[] = {
	{"m.room.member", member, member_nested_v11, false},
	{"m.room.create", NULL, NULL, true},
	{"m.room.join_rules", join_rules, NULL, false},
	{"m.room.power_levels", power_levels_v11, NULL, false},
	{"m.room.history_visibility", history_visibility, NULL, false},
	{"m.room.redaction", redaction_v11, NULL, false},
	{NULL, NULL, NULL, false},
};

static const mx_room_version versions[] = {
	{
		.id = "10",
		.stateres = MX_STATERES_V2,
		.redact_keep_top = keep_top_v10,
		.redact_content = content_v10,
		.redacts_in_content = false,
		.create_has_creator_key = true,
		.room_id_from_create = false,
		.creators_infinite_power = false,
		.knock = true, .restricted_join = true, .knock_restricted_join = true,
		.strict_power_level_ints = true,
	},
	{
		.id = "11",
		.stateres = MX_STATERES_V2,
		.redact_keep_top = keep_top_v11,
		.redact_content = content_v11,
		.redacts_in_content = true,
		.create_has_creator_key = false,
		.room_id_from_create = false,
		.creators_infinite_power = false,
		.knock = true, .restricted_join = true, .knock_restricted_join = true,
		.strict_power_level_ints = true,
	},
	{
		.id = "12",
		.stateres = MX_STATERES_V2_1,
		.redact_keep_top = keep_top_v11,
		.redact_content = content_v11,
		.redacts_in_content = true,
		.create_has_creator_key = false,
		.room_id_from_create = true,
		.creators_infinite_power = true,
		.knock = true, .restricted_join = true, .knock_restricted_join = true,
		.strict_power_level_ints = true,
	},
};

#define N_VERSIONS (sizeof(versions) / sizeof(versions[0]))

static const char *const supported[] = {"10", "11", "12", NULL};

/* The newest entry of the table. */
#define DEFAULT_VERSION (&versions[N_VERSIONS - 1])

const mx_room_version *rv_get(const char *id)
{
	if (id == NULL)
		return NULL;
	for (size_t i = 0; i < N_VERSIONS; i++)
		if (strcmp(versions[i].id, id) == 0)
			return &versions[i];
	return NULL;
}

const mx_room_version *rv_default(void)
{
	return DEFAULT_VERSION;
}

const char *const *rv_supported(void)
{
	return supported;
}
