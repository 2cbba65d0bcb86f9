/*
 * auth.c: the Matrix authorization rules for rooms v10, v11 and v12, run in
 * the spec's order (rooms/vN.md, "Authorisation rules"). This file owns the
 * order and the rules about create events, the event's own auth_events, the
 * sender's membership and the send level; auth_member.c owns m.room.member,
 * auth_power.c owns power levels. Every version difference is a knob of the
 * room-version table. Pure: no storage, no I/O, no allocation that outlives
 * a call.
 */
#include <string.h>

#include "auth_int.h"

const char *auth_str(const json_t *obj, const char *key)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

const ev_t *auth_state_get(const auth_ctx *c, const char *type, const char *state_key)
{
	return c->st->get ? c->st->get(c->st->ctx, type, state_key) : NULL;
}

const char *auth_membership(const auth_ctx *c, const char *user_id)
{
	const ev_t *m = auth_state_get(c, "m.room.member", user_id);
	return m ? auth_str(m->content, "membership") : NULL;
}

bool auth_membership_is(const auth_ctx *c, const char *user_id, const char *membership)
{
	const char *m = auth_membership(c, user_id);
	return m && strcmp(m, membership) == 0;
}

const char *auth_user_domain(const char *user_id)
{
	const char *colon = user_id ? strchr(user_id, ':') : NULL;
	return colon ? colon + 1 : "";
}

/* server_name = host [":" port]; host = IPv4 / "[" IPv6 "]" / DNS name
 * (appendices, "Server Name"). */
static bool valid_server_name(const char *s)
{
	const char *p = s;
	if (*p == '[') {
		for (p++; *p && *p != ']'; p++)
			if (!strchr("0123456789abcdefABCDEF:.", *p))
				return false;
		if (*p != ']' || p == s + 1)
			return false;
		p++;
	} else {
		for (; *p && *p != ':'; p++)
			if (!(strchr("-.", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
			      (*p >= 'A' && *p <= 'Z')))
				return false;
		if (p == s)
			return false;
	}
	if (*p == '\0')
		return true;
	if (*p++ != ':')
		return false;
	size_t digits = strspn(p, "0123456789");
	return digits >= 1 && digits <= 5 && p[digits] == '\0';
}

/* Localparts may be historical: any printable ASCII but ':' (appendices,
 * "Historical User IDs"), so only that is required of them. */
bool auth_valid_user_id(const char *s)
{
	if (s == NULL || s[0] != '@' || strlen(s) > EV_MAX_ID)
		return false;
	const char *colon = strchr(s, ':');
	if (colon == NULL || colon == s + 1)
		return false;
	for (const char *p = s + 1; p < colon; p++)
		if (*p < 0x21 || *p > 0x7e)
			return false;
	return valid_server_name(colon + 1);
}

/* Rule 1: the create event. */
static mxdb_status check_create(auth_ctx *c)
{
	const ev_t *ev = c->ev;
	if (ev->n_prev > 0)
		return AUTH_DENY(c, "m.room.create must have no prev_events");
	if (c->rv->room_id_from_create) {
		if (ev->room_id != NULL)
			return AUTH_DENY(c, "m.room.create must not have a room_id in this room version");
	} else {
		if (ev->room_id == NULL ||
		    strcmp(auth_user_domain(ev->room_id), auth_user_domain(ev->sender)) != 0)
			return AUTH_DENY(c, "room_id domain of m.room.create does not match the sender's");
	}
	json_t *ver = json_object_get(ev->content, "room_version");
	if (ver != NULL && (!json_is_string(ver) || rv_get(json_string_value(ver)) == NULL))
		return AUTH_DENY(c, "m.room.create content.room_version is not a recognised version");
	if (c->rv->create_has_creator_key && auth_str(ev->content, "creator") == NULL)
		return AUTH_DENY(c, "m.room.create content has no creator");
	if (c->rv->creators_infinite_power && !auth_additional_creators_valid(ev->content))
		return AUTH_DENY(c, "m.room.create content.additional_creators is not an array of "
		                 "user IDs");
	return MXDB_OK;
}

/* v12 rule 2: the room ID names an accepted create event ("!" for "$"). */
static mxdb_status find_create_by_room_id(auth_ctx *c)
{
	const char *rid = c->ev->room_id;
	if (rid == NULL || rid[0] != '!')
		return AUTH_DENY(c, "room_id is not the ID of an m.room.create event");
	const ev_t *create = auth_find_create(c->st, c->rv, rid);
	if (create == NULL || create->event_id == NULL || strcmp(create->event_id + 1, rid + 1) != 0 ||
	    strcmp(create->type, "m.room.create") != 0)
		return AUTH_DENY(c, "room_id is not the ID of an m.room.create event");
	if (create->rejected)
		return AUTH_DENY(c, "the m.room.create event named by room_id was rejected");
	c->create = create;
	return MXDB_OK;
}

static bool key_selected(const auth_key *keys, size_t n, const ev_t *a)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].type, a->type) == 0 && strcmp(keys[i].state_key, a->state_key) == 0)
			return true;
	return false;
}

/* Rules on the event's own auth_events (v10/v11 rule 2, v12 rule 3). */
static mxdb_status check_auth_events(auth_ctx *c)
{
	const ev_t *ev = c->ev;
	auth_key keys[AUTH_MAX_KEYS];
	size_t nkeys = auth_types_for_event(c->rv, ev->type, ev->state_key, ev->sender, ev->content,
	                                    keys, AUTH_MAX_KEYS);
	const ev_t *seen[AUTH_MAX_KEYS];
	size_t nseen = 0;
	bool have_create = false;

	for (size_t i = 0; i < ev->n_auth; i++) {
		const ev_t *a = c->st->event(c->st->ctx, ev->auth_events[i]);
		if (a == NULL)
			return AUTH_DENY(c, "auth event %s is unknown", ev->auth_events[i]);
		if (a->state_key == NULL || !key_selected(keys, nkeys, a))
			return AUTH_DENY(c, "auth event %s (%s) is not one the auth events selection picks",
			                 ev->auth_events[i], a->type);
		/* Every selected key is distinct, so a repeat shows as a second
		 * event on an already seen key: nseen never exceeds nkeys. */
		for (size_t j = 0; j < nseen; j++)
			if (strcmp(seen[j]->type, a->type) == 0 &&
			    strcmp(seen[j]->state_key, a->state_key) == 0)
				return AUTH_DENY(c, "auth_events has duplicate entries for (%s, %s)", a->type,
				                 a->state_key);
		seen[nseen++] = a;
		if (a->rejected)
			return AUTH_DENY(c, "auth event %s was rejected", ev->auth_events[i]);
		if (a->room_id == NULL || ev->room_id == NULL || strcmp(a->room_id, ev->room_id) != 0)
			return AUTH_DENY(c, "auth event %s belongs to another room", ev->auth_events[i]);
		if (strcmp(a->type, "m.room.create") == 0)
			have_create = true;
	}
	if (!c->rv->room_id_from_create && !have_create)
		return AUTH_DENY(c, "auth_events has no m.room.create event");
	return MXDB_OK;
}

/* Every rule after the create event's own, in the spec's order. */
static mxdb_status check_rules(auth_ctx *c)
{
	const ev_t *ev = c->ev;
	mxdb_status rc;
	if (c->rv->room_id_from_create && (rc = find_create_by_room_id(c)) != MXDB_OK)
		return rc;
	if (c->st->event != NULL && (rc = check_auth_events(c)) != MXDB_OK)
		return rc;
	if (!c->rv->room_id_from_create) {
		c->create = auth_state_get(c, "m.room.create", "");
		if (c->create == NULL)
			return AUTH_DENY(c, "no m.room.create event in the room state");
	}

	json_t *federate = json_object_get(c->create->content, "m.federate");
	if (json_is_false(federate) &&
	    strcmp(auth_user_domain(ev->sender), auth_user_domain(c->create->sender)) != 0)
		return AUTH_DENY(c, "the room does not federate and the sender is from another server");

	c->pl = auth_state_get(c, "m.room.power_levels", "");
	c->sender_power = auth_power_of(c, ev->sender);
	if (strcmp(ev->type, "m.room.member") == 0)
		return auth_check_member(c);
	if (!auth_membership_is(c, ev->sender, "join"))
		return AUTH_DENY(c, "sender is not joined to the room");
	if (strcmp(ev->type, "m.room.third_party_invite") == 0) {
		int64_t need = auth_level(c, "invite", AUTH_INVITE_DEFAULT);
		if (c->sender_power < need)
			return AUTH_DENY(c, "power level %lld is below the invite level %lld needed for "
			                 "m.room.third_party_invite", (long long)c->sender_power,
			                 (long long)need);
		return MXDB_OK;
	}
	int64_t need = auth_send_level(c, ev->type, ev->state_key != NULL);
	if (need > c->sender_power)
		return AUTH_DENY(c, "power level %lld is below the %lld needed for %s",
		                 (long long)c->sender_power, (long long)need, ev->type);
	if (ev->state_key && ev->state_key[0] == '@' && strcmp(ev->state_key, ev->sender) != 0)
		return AUTH_DENY(c, "state_key %s starts with @ and is not the sender", ev->state_key);
	if (strcmp(ev->type, "m.room.power_levels") == 0)
		return auth_check_power_levels(c);
	return MXDB_OK;
}

mxdb_status auth_check(const ev_t *ev, const auth_state *state, mxdb_error *err)
{
	if (ev == NULL || state == NULL || ev->rv == NULL || ev->type == NULL || ev->sender == NULL)
		return mx_fail(err, MXDB_EINVAL, "auth_check: incomplete event or state");
	auth_state st = *state;
	st.room_id = ev->room_id;
	auth_ctx c = {.ev = ev, .rv = ev->rv, .st = &st, .err = err};
	mxdb_status rc = strcmp(ev->type, "m.room.create") == 0 ? check_create(&c) : check_rules(&c);
	if (rc == MXDB_OK)
		mx_clear(err);
	return rc;
}
