/* test_fed_knock_store.c: our users' knocks on rooms not here, kept in
 * fed_invites beside the invites received over federation: listed by
 * mxdb_user_rooms as "knock" with their stripped state, the server that took
 * them found again (fed_knock_via), replaced by an invite to the same room,
 * forgotten when rescinded, and kept across a reopen (the schema's
 * fed_knock step runs once). Real SQLite files under /tmp. */
#include "engine_util.h"
#include "fed_room.h"
#include "testutil.h"

#define USER "@kim:test.local"
#define ROOM "!door:far.test"
#define STATE "[{\"type\":\"m.room.create\",\"state_key\":\"\",\"sender\":\"@a:far.test\",\"content\":{}}]"

/* How many rooms user has with that membership; *first: the first one's
 * copy (new) when wanted. */
static size_t rooms_of(mxdb *db, const char *membership, mxdb_user_room *first)
{
	mxdb_user_room *v = NULL;
	size_t n = 0;
	CHECK(mxdb_user_rooms(db, USER, membership, &v, &n, NULL) == MXDB_OK);
	if (first != NULL && n > 0) {
		*first = v[0];
		memset(&v[0], 0, sizeof(v[0]));
	}
	mxdb_user_rooms_free(v, n);
	return n;
}

/* Frees a copy made by rooms_of (its fields; the struct is the caller's). */
static void drop(mxdb_user_room *r)
{
	free(r->room_id);
	free(r->membership);
	free(r->event_id);
	free(r->sender);
	free(r->invite_state);
}

int main(void)
{
	char dir[64];
	tmpdir_make(dir, sizeof(dir), "knock");
	mxdb *db = open_db(dir);
	mxdb_error e;
	char *via = NULL;

	CHECK(fed_knock_store(db, USER, ROOM, "$knock", NULL, STATE, &e) == MXDB_EINVAL);
	CHECK(fed_knock_via(db, USER, ROOM, &via, &e) == MXDB_ENOTFOUND && via == NULL);

	CHECK(fed_knock_store(db, USER, ROOM, "$knock", "far.test", STATE, &e) == MXDB_OK);
	mxdb_user_room k = {0};
	CHECK(rooms_of(db, "knock", &k) == 1 && rooms_of(db, "invite", NULL) == 0);
	CHECK(k.room_id && strcmp(k.room_id, ROOM) == 0 && strcmp(k.event_id, "$knock") == 0);
	CHECK(k.sender && strcmp(k.sender, USER) == 0 && strcmp(k.membership, "knock") == 0);
	CHECK(k.invite_state && strcmp(k.invite_state, STATE) == 0);
	CHECK(fed_knock_via(db, USER, ROOM, &via, &e) == MXDB_OK && via && strcmp(via, "far.test") == 0);
	free(via);
	via = NULL;

	/* Kept across a reopen. */
	mxdb_close(db);
	db = open_db(dir);
	CHECK(rooms_of(db, NULL, NULL) == 1 && rooms_of(db, "knock", NULL) == 1);

	/* The room lets kim in: the invite takes the knock's place, later in
	 * the stream, and no server is left to rescind through. */
	CHECK(fed_invite_store(db, USER, ROOM, "$invite", "@a:far.test", STATE, &e) == MXDB_OK);
	mxdb_user_room i = {0};
	CHECK(rooms_of(db, "knock", NULL) == 0 && rooms_of(db, "invite", &i) == 1);
	CHECK(i.sender && strcmp(i.sender, "@a:far.test") == 0 && i.pos > k.pos);
	CHECK(fed_knock_via(db, USER, ROOM, &via, &e) == MXDB_ENOTFOUND && via == NULL);
	drop(&i);
	drop(&k);

	/* Another knock, rescinded. */
	CHECK(fed_knock_store(db, USER, "!hall:far.test", "$k2", "far.test", STATE, &e) == MXDB_OK);
	CHECK(rooms_of(db, "knock", NULL) == 1 && rooms_of(db, NULL, NULL) == 2);
	CHECK(fed_invite_forget(db, USER, "!hall:far.test", &e) == MXDB_OK);
	CHECK(rooms_of(db, "knock", NULL) == 0 && rooms_of(db, NULL, NULL) == 1);

	mxdb_close(db);
	CHECK(tmpdir_remove(dir) == 0);
	return test_summary("test_fed_knock_store");
}
