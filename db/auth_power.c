/*
 * auth_power.c: power levels in the Matrix authorization rules: a user's
 * level (with the v12 creators' infinite power), the levels an action needs,
 * the m.room.power_levels rules (v10/v11 rule 9, v12 rule 10), the auth
 * events selection (server-server-api "Auth events selection") and the
 * "Handling redactions" check. Pure: reads events, never keeps them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_int.h"
#include "cjson.h"

/* A power level value: an integer, or before v10 also a string holding one. */
static bool level_value(const mx_room_version *rv, const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (rv->strict_power_level_ints || !json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	char *end;
	long long n = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || n > CJ_MAX_INT || n < -CJ_MAX_INT)
		return false;
	*out = n;
	return true;
}

static bool pl_get(const mx_room_version *rv, const json_t *content, const char *key, int64_t *out)
{
	return level_value(rv, json_object_get(content, key), out);
}

const char *auth_room_creator(const mx_room_version *rv, const ev_t *create)
{
	if (create == NULL)
		return NULL;
	return rv->create_has_creator_key ? auth_str(create->content, "creator") : create->sender;
}

bool auth_is_creator(const mx_room_version *rv, const ev_t *create, const char *user_id)
{
	if (user_id == NULL)
		return false;
	const char *first = auth_room_creator(rv, create);
	if (first && strcmp(first, user_id) == 0)
		return true;
	if (!rv->creators_infinite_power || create == NULL)
		return false;
	json_t *more = json_object_get(create->content, "additional_creators"), *u;
	size_t i;
	json_array_foreach(json_is_array(more) ? more : NULL, i, u) {
		if (json_is_string(u) && strcmp(json_string_value(u), user_id) == 0)
			return true;
	}
	return false;
}

bool auth_additional_creators_valid(const json_t *content)
{
	json_t *more = json_object_get(content, "additional_creators"), *u;
	if (more == NULL)
		return true;
	if (!json_is_array(more))
		return false;
	size_t i;
	json_array_foreach(more, i, u) {
		if (!json_is_string(u) || !auth_valid_user_id(json_string_value(u)))
			return false;
	}
	return true;
}

const ev_t *auth_find_create(const auth_state *st, const mx_room_version *rv, const char *room_id)
{
	if (rv->room_id_from_create && st->event && room_id && room_id[0] == '!') {
		char id[EV_MAX_ID + 2];
		size_t n = strlen(room_id);
		if (n <= EV_MAX_ID) {
			id[0] = '$';
			memcpy(id + 1, room_id + 1, n);
			const ev_t *create = st->event(st->ctx, id);
			if (create)
				return create;
		}
	}
	return st->get ? st->get(st->ctx, "m.room.create", "") : NULL;
}

/* The power of a user given the create and power-levels events. Without a
 * power-levels event the creator has 100 (v10, v11) and everyone else 0. */
static int64_t power_of(const mx_room_version *rv, const ev_t *create, const ev_t *pl,
                        const char *user_id)
{
	if (rv->creators_infinite_power && auth_is_creator(rv, create, user_id))
		return AUTH_POWER_INFINITE;
	int64_t level = 0;
	if (pl == NULL)
		return auth_is_creator(rv, create, user_id) ? 100 : 0;
	if (pl_get(rv, json_object_get(pl->content, "users"), user_id, &level))
		return level;
	if (pl_get(rv, pl->content, "users_default", &level))
		return level;
	return 0;
}

int64_t auth_power_of(const auth_ctx *c, const char *user_id)
{
	return power_of(c->rv, c->create, c->pl, user_id);
}

int64_t auth_user_power(const auth_state *state, const mx_room_version *rv, const char *user_id)
{
	const ev_t *create = auth_find_create(state, rv, state->room_id);
	const ev_t *pl = state->get ? state->get(state->ctx, "m.room.power_levels", "") : NULL;
	return power_of(rv, create, pl, user_id);
}

int64_t auth_state_level(const auth_state *state, const mx_room_version *rv, const char *key,
                         int64_t def)
{
	const ev_t *pl = state->get ? state->get(state->ctx, "m.room.power_levels", "") : NULL;
	int64_t v;
	return pl && pl_get(rv, pl->content, key, &v) ? v : def;
}

int64_t auth_level(const auth_ctx *c, const char *key, int64_t def)
{
	int64_t v;
	return c->pl && pl_get(c->rv, c->pl->content, key, &v) ? v : def;
}

int64_t auth_send_level(const auth_ctx *c, const char *type, bool is_state)
{
	int64_t v;
	if (c->pl && pl_get(c->rv, json_object_get(c->pl->content, "events"), type, &v))
		return v;
	return is_state ? auth_level(c, "state_default", 50) : auth_level(c, "events_default", 0);
}

static const char *const top_levels[] = {
	"users_default", "events_default", "state_default", "ban", "redact", "kick", "invite", NULL,
};

/* Rules 9.1-9.3 (v12: 10.1-10.4): the shape of the new content. An absent
 * users map passes like absent events and notifications maps do: the rule
 * is about a users property that is there and malformed. */
static mxdb_status check_pl_shape(auth_ctx *c)
{
	const json_t *content = c->ev->content;
	int64_t v;
	for (const char *const *k = top_levels; *k; k++) {
		json_t *val = json_object_get(content, *k);
		if (val && !level_value(c->rv, val, &v))
			return AUTH_DENY(c, "power levels: %s is not an integer", *k);
	}
	static const char *const maps[] = {"events", "notifications", "users", NULL};
	for (const char *const *k = maps; *k; k++) {
		json_t *obj = json_object_get(content, *k), *val;
		const char *key;
		if (obj == NULL)
			continue;
		if (!json_is_object(obj))
			return AUTH_DENY(c, "power levels: %s is not an object", *k);
		json_object_foreach(obj, key, val) {
			if (!level_value(c->rv, val, &v))
				return AUTH_DENY(c, "power levels: %s.%s is not an integer", *k, key);
			if (strcmp(*k, "users") == 0 && !auth_valid_user_id(key))
				return AUTH_DENY(c, "power levels: users key %s is not a user ID", key);
			if (strcmp(*k, "users") == 0 && c->rv->creators_infinite_power &&
			    auth_is_creator(c->rv, c->create, key))
				return AUTH_DENY(c, "power levels: users must not list the room creator %s",
				                 key);
		}
	}
	return MXDB_OK;
}

/* One entry's change: old and new levels (absent: has_* false). */
typedef struct pl_change {
	bool has_old, has_new;
	int64_t old, new;
} pl_change;

/* What one changed entry must satisfy; label names it ("ban", "events.x"). */
typedef mxdb_status (*change_rule)(auth_ctx *c, const char *label, const char *key,
                                   const pl_change *ch);

/* Rules 9.5-9.7 (v12: 10.6-10.8): top-level values, events, notifications. */
static mxdb_status level_rule(auth_ctx *c, const char *label, const char *key,
                              const pl_change *ch)
{
	if (ch->has_old && ch->old > c->sender_power)
		return AUTH_DENY(c, "power levels: cannot change %s from %lld, above your level %lld",
		                 label, (long long)ch->old, (long long)c->sender_power);
	if (ch->has_new && ch->new > c->sender_power)
		return AUTH_DENY(c, "power levels: cannot set %s to %lld, above your level %lld", label,
		                 (long long)ch->new, (long long)c->sender_power);
	return MXDB_OK;
}

/* Rules 9.8-9.9 (v12: 10.9-10.10): users; one's own entry may go down. */
static mxdb_status user_rule(auth_ctx *c, const char *label, const char *key,
                             const pl_change *ch)
{
	if (ch->has_old && strcmp(key, c->ev->sender) != 0 && ch->old >= c->sender_power)
		return AUTH_DENY(c, "power levels: cannot change the level of %s (%lld), not below "
		                 "your level %lld", key, (long long)ch->old, (long long)c->sender_power);
	if (ch->has_new && ch->new > c->sender_power)
		return AUTH_DENY(c, "power levels: cannot raise %s to %lld, above your level %lld", key,
		                 (long long)ch->new, (long long)c->sender_power);
	return MXDB_OK;
}

/* Runs rule when key was added, changed or removed between the objects.
 * The values compared are the ones written in the two events, not the
 * defaults: an added entry has no current value to check, a removed one no
 * new value. */
static mxdb_status check_change(auth_ctx *c, const char *map, const json_t *old_obj,
                                const json_t *new_obj, const char *key, change_rule rule)
{
	pl_change ch = {0};
	ch.has_old = pl_get(c->rv, old_obj, key, &ch.old);
	ch.has_new = pl_get(c->rv, new_obj, key, &ch.new);
	if (ch.has_old == ch.has_new && (!ch.has_old || ch.old == ch.new))
		return MXDB_OK;
	char label[2 * EV_MAX_ID + 2];
	snprintf(label, sizeof label, "%s%s%s", map ? map : "", map ? "." : "", key);
	return rule(c, label, key, &ch);
}

/* Runs rule on every entry of the union of the old and new map. */
static mxdb_status check_map(auth_ctx *c, const char *map, change_rule rule)
{
	const json_t *old_map = json_object_get(c->pl->content, map);
	const json_t *new_map = json_object_get(c->ev->content, map);
	const json_t *maps[2] = {old_map, new_map};
	for (int m = 0; m < 2; m++) {
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)(json_is_object(maps[m]) ? maps[m] : NULL), key, val) {
			if (m == 1 && json_object_get(old_map, key) != NULL)
				continue; /* seen with the old map */
			mxdb_status rc = check_change(c, map, old_map, new_map, key, rule);
			if (rc != MXDB_OK)
				return rc;
		}
	}
	return MXDB_OK;
}

mxdb_status auth_check_power_levels(auth_ctx *c)
{
	mxdb_status rc = check_pl_shape(c);
	if (rc != MXDB_OK || c->pl == NULL)
		return rc;
	for (const char *const *k = top_levels; *k; k++)
		if ((rc = check_change(c, NULL, c->pl->content, c->ev->content, *k, level_rule)) !=
		    MXDB_OK)
			return rc;
	if ((rc = check_map(c, "events", level_rule)) != MXDB_OK ||
	    (rc = check_map(c, "notifications", level_rule)) != MXDB_OK)
		return rc;
	return check_map(c, "users", user_rule);
}

static size_t add_key(auth_key *out, size_t n, size_t cap, const char *type, const char *sk)
{
	if (sk == NULL)
		return n;
	for (size_t i = 0; i < n; i++)
		if (strcmp(out[i].type, type) == 0 && strcmp(out[i].state_key, sk) == 0)
			return n;
	if (n < cap)
		out[n++] = (auth_key){type, sk};
	return n;
}

size_t auth_types_for_event(const mx_room_version *rv, const char *type, const char *state_key,
                            const char *sender, const json_t *content, auth_key *out, size_t cap)
{
	size_t n = 0;
	if (type == NULL || strcmp(type, "m.room.create") == 0)
		return 0;
	if (!rv->room_id_from_create)
		n = add_key(out, n, cap, "m.room.create", "");
	n = add_key(out, n, cap, "m.room.power_levels", "");
	n = add_key(out, n, cap, "m.room.member", sender);
	if (strcmp(type, "m.room.member") != 0)
		return n;
	n = add_key(out, n, cap, "m.room.member", state_key);
	const char *membership = auth_str(content, "membership");
	if (membership == NULL)
		return n;
	bool join = strcmp(membership, "join") == 0, invite = strcmp(membership, "invite") == 0;
	if (join || invite || strcmp(membership, "knock") == 0)
		n = add_key(out, n, cap, "m.room.join_rules", "");
	if (invite) {
		json_t *tpi = json_object_get(content, "third_party_invite");
		n = add_key(out, n, cap, "m.room.third_party_invite",
		            auth_str(json_object_get(tpi, "signed"), "token"));
	}
	if (join && rv->restricted_join)
		n = add_key(out, n, cap, "m.room.member",
		            auth_str(content, "join_authorised_via_users_server"));
	return n;
}

bool auth_redaction_applies(const ev_t *redaction, const ev_t *target, const auth_state *state)
{
	if (redaction == NULL || target == NULL || state == NULL || redaction->rv == NULL)
		return false;
	if (strcmp(auth_user_domain(redaction->sender), auth_user_domain(target->sender)) == 0)
		return true;
	auth_state st = *state;
	st.room_id = redaction->room_id;
	auth_ctx c = {.ev = redaction, .rv = redaction->rv, .st = &st};
	c.create = auth_find_create(&st, c.rv, st.room_id);
	c.pl = auth_state_get(&c, "m.room.power_levels", "");
	return auth_power_of(&c, redaction->sender) >= auth_level(&c, "redact", AUTH_REDACT_DEFAULT);
}
