/*
 * cs_directory.c: the room directory over the client API: aliases
 * (/directory/room/{alias}), a room's visibility (/directory/list/room/{id})
 * and /publicRooms, whose entries are read from each room's current state.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "cs_handlers.h"

void cs_alias_get(http_req *r)
{
	char *room = NULL;
	mxdb_error e;
	mxdb_status st = mxdb_alias_resolve(CS(r)->db, r->param[0], &room, &e);
	if (st != MXDB_OK) {
		http_reply_error(r, 404, "M_NOT_FOUND", "room alias %s not found", r->param[0]);
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s, s:[s]}", "room_id", room, "servers",
	                                  CS(r)->server_name));
	mxdb_free(room);
}

void cs_alias_put(http_req *r)
{
	const char *room;
	if (!cs_body_str(r, "room_id", true, &room))
		return;
	const char *colon = strchr(r->param[0], ':');
	if (r->param[0][0] != '#' || colon == NULL || strcmp(colon + 1, CS(r)->server_name) != 0) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "the alias must be #name:%s",
		                 CS(r)->server_name);
		return;
	}
	mxdb_room_info info;
	if (!cs_room_member(r, room, NULL, &info))
		return;
	mxdb_error e;
	mxdb_status st = mxdb_alias_put(CS(r)->db, r->param[0], info.room_id, r->user_id, &e);
	if (st == MXDB_EEXISTS)
		http_reply_error(r, 409, "M_UNKNOWN", "room alias %s already exists", r->param[0]);
	else if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_empty(r);
}

void cs_alias_delete(http_req *r)
{
	char *creator = NULL;
	mxdb_error e;
	mxdb_status st = mxdb_alias_creator(CS(r)->db, r->param[0], &creator, &e);
	if (st != MXDB_OK) {
		http_reply_error(r, 404, "M_NOT_FOUND", "room alias %s not found", r->param[0]);
		return;
	}
	bool mine = strcmp(creator, r->user_id) == 0;
	mxdb_free(creator);
	if (!mine) {
		http_reply_error(r, 403, "M_FORBIDDEN", "only the alias's creator may delete it");
		return;
	}
	st = mxdb_alias_delete(CS(r)->db, r->param[0], &e);
	cs_done(r, st, &e);
}

void cs_visibility_get(http_req *r)
{
	mxdb_room_info info;
	if (!cs_room_resolve(r, r->param[0], &info))
		return;
	http_reply_json(r, 200, json_pack("{s:s}", "visibility",
	                                  info.visibility_public ? "public" : "private"));
}

void cs_visibility_put(http_req *r)
{
	const char *vis;
	if (!cs_body_str(r, "visibility", false, &vis))
		return;
	if (vis != NULL && strcmp(vis, "public") != 0 && strcmp(vis, "private") != 0) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "visibility must be public or private");
		return;
	}
	mxdb_room_info info;
	if (!cs_room_member(r, r->param[0], NULL, &info))
		return;
	mxdb_error e;
	mxdb_status st = mxdb_set_visibility(CS(r)->db, info.room_id,
	                                     vis != NULL && strcmp(vis, "public") == 0, &e);
	cs_done(r, st, &e);
}

/* content.key of the room's state event (type, ""), or NULL. */
static json_t *state_field(cs_ctx *c, const char *room, const char *type, const char *key)
{
	char *json = NULL;
	if (mxdb_state_event(c->db, room, type, "", &json, NULL) != MXDB_OK)
		return NULL;
	json_t *ev = json_loads(json, 0, NULL);
	mxdb_free(json);
	json_t *v = json_incref(json_object_get(json_object_get(ev, "content"), key));
	json_decref(ev);
	return v;
}

static json_t *room_entry(cs_ctx *c, const char *room)
{
	json_t *e = json_pack("{s:s}", "room_id", room);
	static const struct {
		const char *type, *key, *field;
	} fields[] = {
		{"m.room.name", "name", "name"},
		{"m.room.topic", "topic", "topic"},
		{"m.room.canonical_alias", "alias", "canonical_alias"},
		{"m.room.avatar", "url", "avatar_url"},
		{"m.room.join_rules", "join_rule", "join_rule"},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *v = state_field(c, room, fields[i].type, fields[i].key);
		if (json_is_string(v))
			json_object_set(e, fields[i].field, v);
		json_decref(v);
	}
	json_t *hv = state_field(c, room, "m.room.history_visibility", "history_visibility");
	json_object_set_new(e, "world_readable",
	                    json_boolean(json_is_string(hv) &&
	                                 strcmp(json_string_value(hv), "world_readable") == 0));
	json_decref(hv);
	json_t *ga = state_field(c, room, "m.room.guest_access", "guest_access");
	json_object_set_new(e, "guest_can_join",
	                    json_boolean(json_is_string(ga) &&
	                                 strcmp(json_string_value(ga), "can_join") == 0));
	json_decref(ga);
	char *members = NULL;
	size_t n = 0;
	if (mxdb_members(c->db, room, "join", &members, NULL) == MXDB_OK) {
		json_t *list = json_loads(members, 0, NULL);
		n = json_array_size(list);
		json_decref(list);
		mxdb_free(members);
	}
	json_object_set_new(e, "num_joined_members", json_integer((json_int_t)n));
	return e;
}

/* Whether the term occurs (any case) in the entry's name, topic or alias. */
static bool entry_matches(const json_t *entry, const char *term)
{
	static const char *const keys[] = {"name", "topic", "canonical_alias"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = json_string_value(json_object_get(entry, keys[i]));
		if (v != NULL && strcasestr(v, term) != NULL)
			return true;
	}
	return false;
}

void cs_public_rooms(http_req *r)
{
	char *ids = NULL;
	mxdb_error e;
	mxdb_status st = mxdb_public_rooms(CS(r)->db, &ids, &e);
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return;
	}
	json_t *list = cs_json(r, ids);
	if (list == NULL)
		return;
	/* limit and since from the query (GET) or the body (POST); since is
	 * "p<offset>" into the matching rooms. */
	const char *lim = http_query(r, "limit"), *since = http_query(r, "since");
	json_t *jl = r->body ? json_object_get(r->body, "limit") : NULL;
	if (since == NULL && r->body != NULL)
		since = json_string_value(json_object_get(r->body, "since"));
	const char *term = r->body ? json_string_value(json_object_get(
		json_object_get(r->body, "filter"), "generic_search_term")) : NULL;
	long limit = lim ? atol(lim) : json_is_integer(jl) ? (long)json_integer_value(jl) : 0;
	long offset = since != NULL && since[0] == 'p' ? atol(since + 1) : 0;
	if (limit <= 0 || limit > 500)
		limit = 500;
	if (offset < 0)
		offset = 0;
	json_t *matching = json_array();
	size_t i;
	json_t *id;
	json_array_foreach(list, i, id) {
		if (!json_is_string(id))
			continue;
		json_t *entry = room_entry(CS(r), json_string_value(id));
		if (term == NULL || entry_matches(entry, term))
			json_array_append_new(matching, entry);
		else
			json_decref(entry);
	}
	json_decref(list);
	long total = (long)json_array_size(matching);
	json_t *chunk = json_array();
	for (long k = offset; k < total && k < offset + limit; k++)
		json_array_append(chunk, json_array_get(matching, (size_t)k));
	json_decref(matching);
	json_t *res = json_pack("{s:o, s:I}", "chunk", chunk, "total_room_count_estimate",
	                        (json_int_t)total);
	char tok[32];
	if (offset + limit < total) {
		snprintf(tok, sizeof(tok), "p%ld", offset + limit);
		json_object_set_new(res, "next_batch", json_string(tok));
	}
	if (offset > 0) {
		snprintf(tok, sizeof(tok), "p%ld", offset > limit ? offset - limit : 0);
		json_object_set_new(res, "prev_batch", json_string(tok));
	}
	http_reply_json(r, 200, res);
}
