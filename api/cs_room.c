/*
 * cs_room.c: rooms over the client API: createRoom, membership (join,
 * knock, invite, leave, kick, ban, unban, forget), joined_rooms, sending events
 * and state, redactions, reading state, members and single events. Every
 * write goes through mxdb (the engine authorizes it); this file only maps
 * JSON bodies to mxdb calls and statuses to Matrix errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "fed_pdu.h"
#include "fed_service.h"
#include "cs_handlers.h"

/* {"event_id"} after a write, or its error (unknown room 404, refused 403). */
static void reply_write(http_req *r, mxdb_status st, const mxdb_error *e,
                        const mxdb_write_result *res)
{
	if (st != MXDB_OK)
		cs_fail(r, st, e);
	else
		http_reply_json(r, 200, json_pack("{s:s}", "event_id", res->event_id));
}

/* ---- createRoom ---- */

static const struct {
	const char *name;
	mxdb_preset preset;
} presets[] = {
	{"private_chat", MXDB_PRESET_PRIVATE_CHAT},
	{"public_chat", MXDB_PRESET_PUBLIC_CHAT},
	{"trusted_private_chat", MXDB_PRESET_TRUSTED_PRIVATE_CHAT},
};

/* A member that must be an object (or absent) dumped to text. */
static bool obj_text(http_req *r, const char *key, char **out)
{
	json_t *v = json_object_get(r->body, key);
	*out = NULL;
	if (v == NULL)
		return true;
	if (!json_is_object(v)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'%s' must be an object", key);
		return false;
	}
	*out = json_dumps(v, JSON_COMPACT);
	return true;
}

void cs_split_invites(http_req *r, mxdb_table_options *o, const char *const **remote,
                      size_t *n_remote)
{
	size_t ours = o->n_invite;
	if (CS(r)->fed != NULL)
		ours = fed_split_invitees(mxdb_server_name(CS(r)->db), (const char **)o->invite, o->n_invite);
	*remote = o->invite + ours;
	*n_remote = o->n_invite - ours;
	o->n_invite = ours;
	o->n_invite_remote = *n_remote;
}

bool cs_invite_remote(http_req *r, const char *room_id, const char *const *remote, size_t n,
                      bool is_direct, char **room_id_out, mxdb_status *st, mxdb_error *e)
{
	*room_id_out = NULL;
	if (r->park == NULL && (CS(r)->fed == NULL || n == 0)) {
		*st = (*room_id_out = strdup(room_id)) ? MXDB_OK : mx_fail(e, MXDB_ENOMEM, "room id");
		return true;
	}
	return fed_invite_list_request(CS(r)->fed, r, room_id, r->user_id, remote, n, is_direct,
	                               room_id_out, st, e);
}

/* The creation's answer, once its remote invites are done. */
static void create_room_reply(http_req *r, const char *room_id, const char *const *remote,
                              size_t n, bool is_direct)
{
	char *id = NULL;
	mxdb_status st;
	mxdb_error e;
	if (!cs_invite_remote(r, room_id, remote, n, is_direct, &id, &st, &e))
		return; /* parked */
	if (st == MXDB_OK)
		http_reply_json(r, 200, json_pack("{s:s}", "room_id", id));
	else
		cs_fail(r, st, &e);
	free(id);
}

void cs_create_room(http_req *r)
{
	if (r->park != NULL) { /* the room exists; its remote invites were under way */
		create_room_reply(r, NULL, NULL, 0, false);
		return;
	}
	mxdb_table_options o = {.creator = r->user_id};
	const char *preset, *vis;
	if (!cs_body_str(r, "preset", false, &preset) || !cs_body_str(r, "visibility", false, &vis) ||
	    !cs_body_str(r, "name", false, &o.name) || !cs_body_str(r, "topic", false, &o.topic) ||
	    !cs_body_str(r, "room_version", false, &o.room_version) ||
	    !cs_body_str(r, "room_alias_name", false, &o.alias))
		return;
	if (vis != NULL && strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0) {
		http_reply_error(r, 400, "M_BAD_JSON", "visibility must be public or private");
		return;
	}
	o.visibility_public = vis != NULL && strcmp(vis, "public") == 0;
	if (preset != NULL) {
		size_t i = 0;
		while (i < sizeof(presets) / sizeof(presets[0]) && strcmp(presets[i].name, preset))
			i++;
		if (i == sizeof(presets) / sizeof(presets[0])) {
			http_reply_error(r, 400, "M_BAD_JSON", "unknown preset %s", preset);
			return;
		}
		o.preset = presets[i].preset;
	}
	json_t *direct = json_object_get(r->body, "is_direct");
	if (direct != NULL && !json_is_boolean(direct)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'is_direct' must be a boolean");
		return;
	}
	o.is_direct = json_is_true(direct);
	json_t *inv = json_object_get(r->body, "invite");
	if (inv != NULL && !json_is_array(inv)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'invite' must be an array");
		return;
	}
	size_t ninv = json_array_size(inv);
	const char **invite = calloc(ninv + 1, sizeof(*invite));
	for (size_t i = 0; i < ninv; i++) {
		invite[i] = json_string_value(json_array_get(inv, i));
		if (invite[i] == NULL || invite[i][0] != '@' || strchr(invite[i], ':') == NULL) {
			http_reply_error(r, 400, "M_INVALID_PARAM", "invite must hold user IDs");
			free(invite);
			return;
		}
	}
	o.invite = invite;
	o.n_invite = ninv;
	const char *const *remote;
	size_t nremote;
	cs_split_invites(r, &o, &remote, &nremote);
	json_t *init = json_object_get(r->body, "initial_state");
	if (init != NULL && !json_is_array(init)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'initial_state' must be an array");
		free(invite);
		return;
	}
	char *plo = NULL, *cc = NULL, *is = init ? json_dumps(init, JSON_COMPACT) : NULL;
	char *room_id = NULL;
	if (obj_text(r, "power_level_content_override", &plo) &&
	    obj_text(r, "creation_content", &cc)) {
		o.power_level_content_override = plo;
		o.creation_content = cc;
		o.initial_state = is;
		mxdb_error e;
		mxdb_status st = mxdb_create_table(CS(r)->db, &o, &room_id, &e);
		if (st == MXDB_OK)
			create_room_reply(r, room_id, remote, nremote, o.is_direct);
		else if (st == MXDB_EEXISTS)
			http_reply_error(r, 400, "M_ROOM_IN_USE", "%s", e.message);
		else
			cs_fail(r, st, &e);
	}
	mxdb_free(room_id);
	free(plo);
	free(cc);
	free(is);
	free(invite);
}

/* ---- membership ---- */

/* The user's profile as member content, or NULL. */
static char *profile_content(cs_ctx *c, const char *user)
{
	json_t *p;
	if (acct_profile_get(c->acct, user, &p, NULL) != MXDB_OK)
		return NULL;
	char *s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	return s;
}

#define CS_MAX_VIA 16 /* server_name / via parameters of a join or knock read at most */

/* The servers a join or knock names, in order: every server_name, then
 * every via (both may repeat). Borrowed from r. */
static size_t via_list(http_req *r, const char *via[CS_MAX_VIA])
{
	static const char *const names[] = {"server_name", "via"};
	size_t n = 0;
	for (size_t k = 0; k < 2; k++)
		for (unsigned i = 0; n < CS_MAX_VIA; i++) {
			const char *v = http_query_nth(r, names[k], i);
			if (v == NULL)
				break;
			via[n++] = v;
		}
	return n;
}

/* A room this server does not have: joined or knocked on through other
 * servers (federation): those the request names, then the inviter's, the
 * room's or the alias's own server. */
static void remote_request(http_req *r, const char *room, mxdb_member_op op, const char *reason)
{
	const char *via[CS_MAX_VIA];
	size_t n = via_list(r, via);
	char *room_id = NULL;
	mxdb_error e;
	mxdb_status st;
	bool done = op == MXDB_KNOCK ? fed_knock_request(CS(r)->fed, r, room, r->user_id, via, n,
	                                                 reason, &room_id, &st, &e)
	                             : fed_join_request(CS(r)->fed, r, room, r->user_id, via, n,
	                                                &room_id, &st, &e);
	if (!done)
		return; /* parked */
	if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_json(r, 200, json_pack("{s:s}", "room_id", room_id));
	free(room_id);
}

/* Is the room elsewhere, or a request for it under way (r->park: the room
 * may be here by now)? */
static bool room_elsewhere(http_req *r, const char *room)
{
	mxdb_room_info info;
	return CS(r)->fed != NULL &&
	       (r->park != NULL || mxdb_room_info_get(CS(r)->db, room, &info, NULL) == MXDB_ENOTFOUND);
}

/* A join or knock of the user themself: a room here takes it from the
 * engine (the auth rules decide: a knock needs the join rule knock or
 * knock_restricted); another server's room gets it over federation. */
static void member_self(http_req *r, const char *room, mxdb_member_op op, const char *reason)
{
	mxdb_room_info info;
	if (room_elsewhere(r, room)) {
		remote_request(r, room, op, reason);
		return;
	}
	if (!cs_room_resolve(r, room, &info))
		return;
	char *content = profile_content(CS(r), r->user_id);
	mxdb_error e;
	mxdb_status st = mxdb_membership(CS(r)->db, info.room_id, r->user_id, NULL, op, reason,
	                                 content, NULL, &e);
	free(content);
	/* A restricted room none of our users may let the user into: through
	 * a server that can (make_join there fills in its authorising user). */
	if (st == MXDB_ENOGRANT && op == MXDB_JOIN && CS(r)->fed != NULL) {
		remote_request(r, info.room_id, op, reason);
		return;
	}
	if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_json(r, 200, json_pack("{s:s}", "room_id", info.room_id));
}

static void join_room(http_req *r, const char *room)
{
	member_self(r, room, MXDB_JOIN, NULL);
}

void cs_knock(http_req *r)
{
	const char *reason;
	if (cs_body_str(r, "reason", false, &reason))
		member_self(r, r->param[0], MXDB_KNOCK, reason);
}

void cs_join(http_req *r)
{
	join_room(r, r->param[0]);
}

static const struct {
	const char *action;
	mxdb_member_op op;
	bool target;
} member_ops[] = {
	{"invite", MXDB_INVITE, true}, {"kick", MXDB_KICK, true},   {"ban", MXDB_BAN, true},
	{"unban", MXDB_UNBAN, true},   {"leave", MXDB_LEAVE, false}, {"join", MXDB_JOIN, false},
};

/* rooms/{id}/{action}: the action is the last segment of the path. */
void cs_membership(http_req *r)
{
	const char *action = r->seg[r->nseg - 1];
	size_t i = 0;
	while (i < sizeof(member_ops) / sizeof(member_ops[0]) && strcmp(member_ops[i].action, action))
		i++;
	if (i == sizeof(member_ops) / sizeof(member_ops[0])) {
		http_reply_error(r, 404, "M_UNRECOGNIZED", "unrecognized request");
		return;
	}
	if (member_ops[i].op == MXDB_JOIN) {
		join_room(r, r->param[0]);
		return;
	}
	const char *target = NULL, *reason;
	if ((member_ops[i].target && !cs_body_str(r, "user_id", true, &target)) ||
	    !cs_body_str(r, "reason", false, &reason))
		return;
	mxdb_room_info info;
	mxdb_error e;
	mxdb_status st;
	if (member_ops[i].op == MXDB_LEAVE && room_elsewhere(r, r->param[0])) {
		/* an invite from afar declined through the inviting server, or a
		 * knock rescinded through the server that took it */
		if (fed_decline_request(CS(r)->fed, r, r->param[0], r->user_id, reason, &st, &e))
			cs_done(r, st, &e);
		return;
	}
	if (!cs_room_resolve(r, r->param[0], &info))
		return;
	const char *ts = target ? fed_server_of(target) : NULL;
	if (member_ops[i].op == MXDB_INVITE && CS(r)->fed != NULL && ts != NULL &&
	    strcmp(ts, mxdb_server_name(CS(r)->db)) != 0) {
		if (!fed_invite_request(CS(r)->fed, r, info.room_id, r->user_id, target, reason, &st, &e))
			return; /* parked */
	} else
		st = mxdb_membership(CS(r)->db, info.room_id, r->user_id, target, member_ops[i].op,
		                     reason, NULL, NULL, &e);
	cs_done(r, st, &e);
}

void cs_forget(http_req *r)
{
	char ms[16];
	mxdb_room_info info;
	if (!cs_room_resolve(r, r->param[0], &info))
		return;
	if (mxdb_member_of(CS(r)->db, info.room_id, r->user_id, ms, NULL) == MXDB_OK &&
	    strcmp(ms, "join") == 0) {
		http_reply_error(r, 400, "M_UNKNOWN", "leave the room before forgetting it");
		return;
	}
	http_reply_empty(r);
}

void cs_joined_rooms(http_req *r)
{
	mxdb_user_room *rooms = NULL;
	size_t n = 0;
	mxdb_error e;
	mxdb_status st = mxdb_user_rooms(CS(r)->db, r->user_id, "join", &rooms, &n, &e);
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_string(rooms[i].room_id));
	mxdb_user_rooms_free(rooms, n);
	http_reply_json(r, 200, json_pack("{s:o}", "joined_rooms", list));
}

/* ---- events and state ---- */

void cs_send(http_req *r)
{
	char txn[600];
	snprintf(txn, sizeof(txn), "%s|%s", r->device_id, r->param[2]);
	mxdb_write_result res;
	mxdb_error e;
	const char *content = r->body_len ? r->body_raw : NULL;
	mxdb_status st =
		mxdb_send(CS(r)->db, r->param[0], r->user_id, r->param[1], content, txn, &res, &e);
	reply_write(r, st, &e, &res);
}

void cs_state_put(http_req *r)
{
	mxdb_write_result res;
	mxdb_error e;
	mxdb_status st = mxdb_put(CS(r)->db, r->param[0], r->user_id, r->param[1], r->param[2],
	                          r->body_len ? r->body_raw : NULL, NULL, &res, &e);
	reply_write(r, st, &e, &res);
}

/* ---- reading: a member of the room reads something of it ---- */

/* One engine read of a room the requesting user is in; the request's path
 * and query say what else it needs. */
typedef mxdb_status (*room_read_fn)(http_req *r, const char *room_id, char **json,
                                    mxdb_error *e);

/* Resolves the room of the path, checks that the user is joined, then runs
 * read. The JSON text it returned, or NULL after replying (404, 403, the
 * read's error). */
static char *member_text(http_req *r, room_read_fn read, mxdb_room_info *info)
{
	if (!cs_room_member(r, r->param[0], NULL, info))
		return NULL;
	char *json = NULL;
	mxdb_error e;
	mxdb_status st = read(r, info->room_id, &json, &e);
	if (st != MXDB_OK) {
		free(json);
		cs_fail(r, st, &e);
		return NULL;
	}
	if (json == NULL)
		http_reply_error(r, 500, "M_UNKNOWN", "the engine returned no JSON");
	return json;
}

/* member_text parsed (NULL after replying, 500 on bad JSON). */
static json_t *member_json(http_req *r, room_read_fn read, mxdb_room_info *info)
{
	char *json = member_text(r, read, info);
	return json != NULL ? cs_json(r, json) : NULL;
}

static mxdb_status read_state_event(http_req *r, const char *room_id, char **json, mxdb_error *e)
{
	return mxdb_state_event(CS(r)->db, room_id, r->param[1], r->param[2], json, e);
}

static mxdb_status read_state(http_req *r, const char *room_id, char **json, mxdb_error *e)
{
	return mxdb_state(CS(r)->db, room_id, json, e);
}

static mxdb_status read_members(http_req *r, const char *room_id, char **json, mxdb_error *e)
{
	return mxdb_members(CS(r)->db, room_id, http_query(r, "membership"), json, e);
}

static mxdb_status read_joined(http_req *r, const char *room_id, char **json, mxdb_error *e)
{
	return mxdb_members(CS(r)->db, room_id, "join", json, e);
}

/* The event ID is looked up globally; cs_event_get checks its room. */
static mxdb_status read_event(http_req *r, const char *room_id, char **json, mxdb_error *e)
{
	(void)room_id;
	return mxdb_event_get(CS(r)->db, r->param[1], json, e);
}

void cs_state_get(http_req *r)
{
	mxdb_room_info info;
	json_t *ev = member_json(r, read_state_event, &info);
	if (ev == NULL)
		return;
	const char *format = http_query(r, "format");
	if (format != NULL && strcmp(format, "event") == 0)
		http_reply_json(r, 200, ev);
	else
		http_reply_json(r, 200, json_incref(json_object_get(ev, "content")));
	json_decref(ev);
}

/* Passes the engine's text through unparsed: it is already the reply. */
void cs_state_all(http_req *r)
{
	mxdb_room_info info;
	char *json = member_text(r, read_state, &info);
	if (json != NULL)
		cs_reply_text(r, 200, json);
}

void cs_members(http_req *r)
{
	mxdb_room_info info;
	const char *not_ms = http_query(r, "not_membership");
	json_t *list = member_json(r, read_members, &info);
	if (list == NULL)
		return;
	for (size_t i = json_array_size(list); not_ms != NULL && i-- > 0;) {
		json_t *m = json_object_get(json_object_get(json_array_get(list, i), "content"),
		                            "membership");
		if (json_is_string(m) && strcmp(json_string_value(m), not_ms) == 0)
			json_array_remove(list, i);
	}
	http_reply_json(r, 200, json_pack("{s:o}", "chunk", list));
}

void cs_joined_members(http_req *r)
{
	mxdb_room_info info;
	json_t *list = member_json(r, read_joined, &info);
	if (list == NULL)
		return;
	json_t *joined = json_object();
	size_t i;
	json_t *ev;
	json_array_foreach(list, i, ev) {
		json_t *content = json_object_get(ev, "content"), *m = json_object();
		json_t *dn = json_object_get(content, "displayname");
		json_t *av = json_object_get(content, "avatar_url");
		if (json_is_string(dn))
			json_object_set(m, "display_name", dn);
		if (json_is_string(av))
			json_object_set(m, "avatar_url", av);
		const char *sk = json_string_value(json_object_get(ev, "state_key"));
		if (sk != NULL)
			json_object_set_new(joined, sk, m);
		else
			json_decref(m);
	}
	json_decref(list);
	http_reply_json(r, 200, json_pack("{s:o}", "joined", joined));
}

void cs_redact(http_req *r)
{
	const char *reason;
	if (!cs_body_str(r, "reason", false, &reason))
		return;
	char txn[600];
	snprintf(txn, sizeof(txn), "%s|%s", r->device_id, r->param[2]);
	mxdb_write_result res;
	mxdb_error e;
	mxdb_status st =
		mxdb_redact(CS(r)->db, r->param[0], r->user_id, r->param[1], reason, txn, &res, &e);
	reply_write(r, st, &e, &res);
}

void cs_event_get(http_req *r)
{
	mxdb_room_info info;
	json_t *ev = member_json(r, read_event, &info);
	if (ev == NULL)
		return;
	const char *room = json_string_value(json_object_get(ev, "room_id"));
	int seen = 0;
	if (room == NULL || strcmp(room, info.room_id) != 0 ||
	    mxdb_event_visible(CS(r)->db, r->user_id, r->param[1], &seen, NULL) != MXDB_OK || !seen)
		http_reply_error(r, 404, "M_NOT_FOUND", "no such event in this room");
	else
		http_reply_json(r, 200, json_incref(ev));
	json_decref(ev);
}
