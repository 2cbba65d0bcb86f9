/* test_engine_restricted.c: joins to restricted rooms through the embedded
 * API, for rooms v10, v11 and v12: the authorising user the engine names
 * (joined, at least the invite level, the most power, then the smallest
 * user ID), refusals of users who meet no allow condition, a room none of
 * our users may let anyone into, and the resident server's verdict on users
 * of other servers (fed_room_join_check). */
#include "engine_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fed_room.h"
#include "testutil.h"

#define CREATOR "@creator:test.local"
#define AMY "@amy:test.local"
#define MOD "@mod:test.local"
#define JOE "@joe:test.local"
#define EVE "@eve:test.local"
#define FARAWAY "@far:elsewhere.example"

/* The join_authorised_via_users_server of user's member event in room
 * (new string), or NULL when it has none. */
static char *authoriser(mxdb *db, const char *room, const char *user)
{
	char *content = NULL, *id = NULL;
	mxdb_error err;
	if (mxdb_get(db, room, "m.room.member", user, &content, &id, &err) != MXDB_OK)
		return NULL;
	json_t *c = json_loads(content, 0, NULL);
	const char *via = json_string_value(json_object_get(c, "join_authorised_via_users_server"));
	char *out = via ? strdup(via) : NULL;
	json_decref(c);
	mxdb_free(content);
	mxdb_free(id);
	return out;
}

static void via_is(mxdb *db, const char *room, const char *user, const char *want)
{
	char *via = authoriser(db, room, user);
	CHECK_MSG(want ? via && strcmp(via, want) == 0 : via == NULL, "%s's join: authorised by %s, want %s",
	          user, via ? via : "nobody", want ? want : "nobody");
	free(via);
}

/* A room of version rv with join rule rule allowing the members of the
 * rooms in allow (a JSON array of room IDs, as text). */
static char *restricted_room(mxdb *db, const char *rv, const char *rule, const char *allow_ids,
                             const char *pl_override, const char *const *invite, size_t n_invite)
{
	json_t *ids = json_loads(allow_ids, 0, NULL), *allow = json_array(), *id;
	size_t i;
	json_array_foreach(ids, i, id)
		json_array_append_new(allow, json_pack("{s:s, s:O}", "type", "m.room_membership", "room_id", id));
	json_t *initial = json_pack("[{s:s, s:s, s:{s:s, s:o}}]", "type", "m.room.join_rules",
	                            "state_key", "", "content", "join_rule", rule, "allow", allow);
	char *text = json_dumps(initial, JSON_COMPACT);
	json_decref(initial);
	json_decref(ids);
	mxdb_writer writers[] = {{AMY, 100}, {MOD, 50}};
	mxdb_table_options o = {.creator = CREATOR, .room_version = rv, .preset = MXDB_PRESET_PRIVATE_CHAT,
	                        .writers = writers, .n_writers = 2, .initial_state = text,
	                        .power_level_content_override = pl_override, .invite = invite,
	                        .n_invite = n_invite};
	char *room = NULL;
	mxdb_error err;
	mxdb_status s = mxdb_create_table(db, &o, &room, &err);
	CHECK_MSG(s == MXDB_OK, "create %s room: %s", rule, err.message);
	free(text);
	return room;
}

static mxdb_status join(mxdb *db, const char *room, const char *user, mxdb_error *err)
{
	return mxdb_membership(db, room, user, NULL, MXDB_JOIN, NULL, NULL, NULL, err);
}

#define EXPECT(call, code)                                                                      \
	do {                                                                                        \
		mxdb_error err_;                                                                        \
		mxdb_status st_ = (call);                                                               \
		CHECK_MSG(st_ == (code), "%s: got %s (%s), want %s", #call, mxdb_status_name(st_),      \
		          st_ ? err_.message : "", mxdb_status_name(code));                            \
	} while (0)

static void test_version(mxdb *db, const char *rv)
{
	mxdb_error err;
	/* S: the public room whose members may join R. */
	char *space = NULL;
	mxdb_table_options so = {.creator = CREATOR, .room_version = rv, .preset = MXDB_PRESET_PUBLIC_CHAT};
	CHECK(mxdb_create_table(db, &so, &space, &err) == MXDB_OK);
	if (space == NULL)
		return;
	CHECK(join(db, space, JOE, &err) == MXDB_OK);
	via_is(db, space, JOE, NULL); /* a public room wants no authoriser */
	char allow[600];
	snprintf(allow, sizeof(allow), "[\"!nowhere:elsewhere.example\", \"%s\"]", space);

	/* R: Amy and the moderator were invited; their joins need nobody. */
	const char *staff[] = {AMY, MOD};
	char *room = restricted_room(db, rv, "restricted", allow, NULL, staff, 2);
	EXPECT(join(db, room, AMY, &err_), MXDB_OK);
	EXPECT(join(db, room, MOD, &err_), MXDB_OK);
	via_is(db, room, AMY, NULL);
	/* Joe is in S: let in by the most powerful of us, the smaller ID on a
	 * tie (v10/v11: creator and Amy both at 100; v12: the creator above all). */
	EXPECT(join(db, room, JOE, &err_), MXDB_OK);
	via_is(db, room, JOE, strcmp(rv, "12") == 0 ? CREATOR : AMY);
	/* Joe joining again (a profile change) is no restricted join. */
	EXPECT(mxdb_membership(db, room, JOE, NULL, MXDB_JOIN, NULL, "{\"displayname\":\"Joe\"}", NULL, &err_),
	       MXDB_OK);
	via_is(db, room, JOE, NULL);
	/* Eve is in no allowed room; our users are in no room we lack. */
	EXPECT(join(db, room, EVE, &err_), MXDB_EFORBIDDEN);
	EXPECT(mxdb_member_of(db, room, EVE, (char[16]){0}, &err_), MXDB_ENOTFOUND);
	/* A user of another server: S is here, and they are not in it. */
	EXPECT(fed_room_join_check(db, room, FARAWAY, &err_), MXDB_EFORBIDDEN);

	/* knock_restricted lets members of S in the same way. */
	char *knock = restricted_room(db, rv, "knock_restricted", allow, NULL, NULL, 0);
	EXPECT(join(db, knock, JOE, &err_), MXDB_OK);
	via_is(db, knock, JOE, CREATOR);
	EXPECT(join(db, knock, EVE, &err_), MXDB_EFORBIDDEN);

	/* Only rooms we do not have: a remote user cannot be judged here. */
	char *blind = restricted_room(db, rv, "restricted", "[\"!nowhere:elsewhere.example\"]", NULL,
	                              NULL, 0);
	EXPECT(fed_room_join_check(db, blind, FARAWAY, &err_), MXDB_EUNVERIFIABLE);
	EXPECT(join(db, blind, JOE, &err_), MXDB_EFORBIDDEN);
	/* No condition of a known schema: everyone fails them all. */
	char *none = restricted_room(db, rv, "restricted", "[]", NULL, NULL, 0);
	EXPECT(fed_room_join_check(db, none, FARAWAY, &err_), MXDB_EFORBIDDEN);
	EXPECT(join(db, none, JOE, &err_), MXDB_EFORBIDDEN);

	/* Invite level 100 and the creator gone: the moderator (50) may not
	 * invite, so no user of ours may let Joe in. */
	char *locked = restricted_room(db, rv, "restricted", allow, "{\"invite\":100}", staff + 1, 1);
	EXPECT(join(db, locked, MOD, &err_), MXDB_OK);
	EXPECT(mxdb_membership(db, locked, CREATOR, NULL, MXDB_LEAVE, NULL, NULL, NULL, &err_), MXDB_OK);
	EXPECT(join(db, locked, JOE, &err_), MXDB_ENOGRANT);
	EXPECT(fed_room_join_check(db, locked, JOE, &err_), MXDB_ENOGRANT);
	EXPECT(join(db, locked, EVE, &err_), MXDB_EFORBIDDEN);
	free(space);
	free(room);
	free(knock);
	free(blind);
	free(none);
	free(locked);
}

int main(void)
{
	char dir[64];
	tmpdir_make(dir, sizeof(dir), "restricted");
	mxdb *db = open_db(dir);
	test_version(db, "10");
	test_version(db, "11");
	test_version(db, "12");
	mxdb_close(db);
	CHECK(tmpdir_remove(dir) == 0);
	return test_summary("test_engine_restricted");
}
