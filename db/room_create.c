/*
 * room_create.c: creating a table = the client-server spec's createRoom
 * sequence, as one atomic write on the writer thread: m.room.create, the
 * creator's join, m.room.power_levels, m.room.canonical_alias, the preset's
 * join rules / history visibility / guest access, initial_state, name,
 * topic, invites. The presets are a table, not a ladder.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

typedef struct preset_row {
	const char *join_rule;
	const char *guest_access; /* NULL: no event (absent means forbidden) */
	bool invitees_admins;
} preset_row;

static const preset_row presets[] = {
	[MXDB_PRESET_PRIVATE_CHAT] = {"invite", "can_join", false},
	[MXDB_PRESET_PUBLIC_CHAT] = {"public", NULL, false},
	[MXDB_PRESET_TRUSTED_PRIVATE_CHAT] = {"invite", "can_join", true},
};

static const char SQL_ALIAS_TAKEN[] = "SELECT 1 FROM aliases WHERE alias = ?";
static const char SQL_ALIAS_ADD[] = "INSERT INTO aliases(alias, room_id, creator) VALUES (?,?,?)";

static json_t *power_levels(const eng_create *c, const preset_row *p)
{
	const mxdb_table_options *o = c->opt;
	json_t *users = json_object();
	/* v12 creators outrank everyone by rule and must not be listed. */
	if (!c->rv->creators_infinite_power)
		json_object_set_new(users, o->creator, json_integer(100));
	for (size_t i = 0; i < o->n_writers; i++)
		if (!c->rv->creators_infinite_power || strcmp(o->writers[i].user_id, o->creator) != 0)
			json_object_set_new(users, o->writers[i].user_id, json_integer(o->writers[i].level));
	/* The invitees of other servers too: their invites go out later, over
	 * federation, but the power levels are set now. */
	if (p->invitees_admins)
		for (size_t i = 0; i < o->n_invite + o->n_invite_remote; i++)
			json_object_set_new(users, o->invite[i], json_integer(100));
	json_t *pl = json_pack("{s:o, s:i, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i},"
	                       " s:i, s:i, s:i, s:i, s:i, s:i, s:{s:i}}",
	                       "users", users, "users_default", 0,
	                       "events", "m.room.name", 50, "m.room.power_levels", 100,
	                       "m.room.history_visibility", 100, "m.room.canonical_alias", 50,
	                       "m.room.avatar", 50, "m.room.tombstone", 100, "m.room.server_acl", 100,
	                       "m.room.encryption", 100,
	                       "events_default", 0, "state_default", 50, "ban", 50, "kick", 50,
	                       "redact", 50, "invite", 0, "notifications", "room", 50);
	if (pl == NULL)
		return NULL;
	if (o->has_state_default)
		json_object_set_new(pl, "state_default", json_integer(o->state_default));
	if (c->pl_override != NULL)
		json_object_update(pl, c->pl_override);
	return pl;
}

/* Does initial_state set (type, "")? Then the preset's event is left out. */
static bool initial_sets(const eng_create *c, const char *type)
{
	size_t i;
	json_t *e;
	json_array_foreach(c->initial, i, e)
	{
		const char *t = json_string_value(json_object_get(e, "type"));
		const char *k = json_string_value(json_object_get(e, "state_key"));
		if (t != NULL && strcmp(t, type) == 0 && (k == NULL || k[0] == '\0'))
			return true;
	}
	return false;
}

typedef struct step {
	const char *type, *state_key, *sender;
	json_t *content; /* owned by the step list */
} step;

static mxdb_status run_steps(mxdb *db, eng_req *req, eng_room *room, step *steps, size_t n,
                             mxdb_error *err)
{
	mxdb_status s = MXDB_OK;
	for (size_t i = 0; s == MXDB_OK && i < n; i++) {
		if (steps[i].content == NULL)
			return mx_fail(err, MXDB_ENOMEM, "createRoom");
		eng_spec spec = {.sender = steps[i].sender, .type = steps[i].type,
		                 .state_key = steps[i].state_key, .content = steps[i].content};
		s = eng_emit(db, req, room, &spec, NULL, NULL, err);
	}
	return s;
}

static mxdb_status alias_claim(mxdb *db, const char *alias, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_ALIAS_TAKEN, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, alias, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return mx_fail(err, MXDB_EEXISTS, "alias %s is taken", alias);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "alias");
}

static mxdb_status alias_add(mxdb *db, const char *alias, const char *room_id,
                             const char *creator, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_ALIAS_ADD, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, alias, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, room_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, creator, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT)
		return mx_fail(err, MXDB_EEXISTS, "alias %s is taken", alias);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "alias");
}

static mxdb_status create_in(mxdb *db, eng_req *req, eng_create *c, eng_room *room,
                             const char *alias, mxdb_error *err)
{
	const mxdb_table_options *o = c->opt;
	mxdb_preset preset = o->preset != MXDB_PRESET_DEFAULT ? o->preset
	                     : o->visibility_public       ? MXDB_PRESET_PUBLIC_CHAT
	                                                  : MXDB_PRESET_PRIVATE_CHAT;
	const preset_row *p = &presets[preset];
	mxdb_status s;
	if (alias != NULL && (s = alias_claim(db, alias, err)) != MXDB_OK)
		return s;

	json_t *cc = c->creation ? json_copy(c->creation) : json_object();
	json_object_set_new(cc, "room_version", json_string(c->rv->id));
	if (c->rv->create_has_creator_key)
		json_object_set_new(cc, "creator", json_string(o->creator));
	s = eng_emit_create(db, req, room, o->creator, cc, o->visibility_public, NULL, err);
	json_decref(cc);
	if (s != MXDB_OK)
		return s;

	step steps[8];
	size_t n = 0;
	const char *me = o->creator;
	steps[n++] = (step){"m.room.member", me, me, json_pack("{s:s}", "membership", "join")};
	steps[n++] = (step){"m.room.power_levels", "", me, power_levels(c, p)};
	if (alias != NULL)
		steps[n++] = (step){"m.room.canonical_alias", "", me, json_pack("{s:s}", "alias", alias)};
	if (!initial_sets(c, "m.room.join_rules"))
		steps[n++] = (step){"m.room.join_rules", "", me, json_pack("{s:s}", "join_rule", p->join_rule)};
	if (!initial_sets(c, "m.room.history_visibility"))
		steps[n++] = (step){"m.room.history_visibility", "", me,
		                    json_pack("{s:s}", "history_visibility", "shared")};
	if (p->guest_access != NULL && !initial_sets(c, "m.room.guest_access"))
		steps[n++] = (step){"m.room.guest_access", "", me,
		                    json_pack("{s:s}", "guest_access", p->guest_access)};
	s = run_steps(db, req, room, steps, n, err);
	for (size_t i = 0; i < n; i++)
		json_decref(steps[i].content);
	if (s != MXDB_OK)
		return s;

	size_t i;
	json_t *e;
	json_array_foreach(c->initial, i, e)
	{
		json_t *content = json_object_get(e, "content");
		const char *type = json_string_value(json_object_get(e, "type"));
		json_t *k = json_object_get(e, "state_key");
		if (type == NULL || !json_is_object(content) || (k != NULL && !json_is_string(k)))
			return mx_fail(err, MXDB_EBADJSON, "initial_state[%zu] needs type and object content", i);
		eng_spec spec = {.sender = me, .type = type,
		                 .state_key = k ? json_string_value(k) : "", .content = content};
		if ((s = eng_emit(db, req, room, &spec, NULL, NULL, err)) != MXDB_OK)
			return s;
	}

	n = 0;
	if (o->name != NULL)
		steps[n++] = (step){"m.room.name", "", me, json_pack("{s:s}", "name", o->name)};
	if (o->topic != NULL)
		steps[n++] = (step){"m.room.topic", "", me, json_pack("{s:s}", "topic", o->topic)};
	s = run_steps(db, req, room, steps, n, err);
	for (size_t j = 0; j < n; j++)
		json_decref(steps[j].content);
	if (s != MXDB_OK)
		return s;
	for (size_t j = 0; j < o->n_invite; j++) {
		json_t *content = json_pack("{s:s}", "membership", "invite");
		if (o->is_direct)
			json_object_set_new(content, "is_direct", json_true());
		eng_spec spec = {.sender = me, .type = "m.room.member", .state_key = o->invite[j],
		                 .content = content};
		s = content ? eng_emit(db, req, room, &spec, NULL, NULL, err)
		            : mx_fail(err, MXDB_ENOMEM, "invite");
		json_decref(content);
		if (s != MXDB_OK)
			return s;
	}
	if (alias != NULL)
		return alias_add(db, alias, room->room_id, me, err);
	return MXDB_OK;
}

mxdb_status eng_create_room(mxdb *db, eng_req *req, eng_create *c, mxdb_error *err)
{
	char alias[300], *alias_p = NULL;
	if (c->opt->alias != NULL) {
		if (snprintf(alias, sizeof(alias), "#%s:%s", c->opt->alias, db->server_name) > EV_MAX_ID)
			return mx_fail(err, MXDB_EINVAL, "alias too long");
		alias_p = alias;
	}
	eng_room *room = calloc(1, sizeof(*room));
	if (room == NULL || (room->auth = map_new(16)) == NULL ||
	    (room->auth_ids = map_new(16)) == NULL) {
		eng_room_free(room);
		return mx_fail(err, MXDB_ENOMEM, "room");
	}
	room->db = db;
	room->rv = c->rv;
	room->sg_depth = 0;
	mxdb_status s = create_in(db, req, c, room, alias_p, err);
	if (s == MXDB_OK && (c->room_id = strdup(room->room_id)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "room");
	if (s == MXDB_OK &&
	    map_put(db->rooms, room->room_id, strlen(room->room_id), room, NULL) != 0) {
		free(c->room_id);
		c->room_id = NULL;
		s = mx_fail(err, MXDB_ENOMEM, "room cache");
	}
	if (s != MXDB_OK)
		eng_room_free(room);
	return s;
}
