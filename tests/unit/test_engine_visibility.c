/* test_engine_visibility.c: history visibility as the engine judges it
 * (mxdb_event_visible, mxdb_events_visible) for each of world_readable,
 * shared, invited and joined: messages sent before Bob was invited, while
 * invited, while joined and after he left, and Carol who never joined. */
#include "engine_util.h"

#include "testutil.h"

#define ALICE "@alice:test.local"
#define BOB "@bob:test.local"
#define CAROL "@carol:test.local"

static int seen(mxdb *db, const char *user, const char *event_id)
{
	int v = -1;
	mxdb_error err;
	CHECK_MSG(mxdb_event_visible(db, user, event_id, &v, &err) == MXDB_OK, "%s", err.message);
	return v;
}

/* want: which of (before invite, invited, joined, after leave) Bob sees,
 * and whether Carol sees the first. */
static void test_setting(mxdb *db, const char *hv, const int want[4], int carol)
{
	mxdb_error err;
	char *room = NULL;
	mxdb_table_options o = {.creator = ALICE, .preset = MXDB_PRESET_PUBLIC_CHAT};
	CHECK(mxdb_create_table(db, &o, &room, &err) == MXDB_OK);
	if (room == NULL)
		return;
	char content[64];
	snprintf(content, sizeof(content), "{\"history_visibility\":\"%s\"}", hv);
	CHECK(mxdb_put(db, room, ALICE, "m.room.history_visibility", "", content, NULL, NULL, &err) ==
	      MXDB_OK);
	mxdb_write_result m[4], join;
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"0\"}", NULL, &m[0], &err) == MXDB_OK);
	CHECK(mxdb_membership(db, room, ALICE, BOB, MXDB_INVITE, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"1\"}", NULL, &m[1], &err) == MXDB_OK);
	CHECK(mxdb_membership(db, room, BOB, NULL, MXDB_JOIN, NULL, NULL, &join, &err) == MXDB_OK);
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"2\"}", NULL, &m[2], &err) == MXDB_OK);
	CHECK(mxdb_membership(db, room, BOB, NULL, MXDB_LEAVE, NULL, NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"3\"}", NULL, &m[3], &err) == MXDB_OK);

	for (int i = 0; i < 4; i++)
		CHECK_MSG(seen(db, BOB, m[i].event_id) == want[i], "%s: bob sees message %d: %d", hv, i,
		          seen(db, BOB, m[i].event_id));
	CHECK_MSG(seen(db, CAROL, m[0].event_id) == carol, "%s: carol", hv);
	CHECK(seen(db, ALICE, m[3].event_id) == 1);
	CHECK(seen(db, BOB, join.event_id) == 1); /* his own membership */

	/* The list form keeps exactly the visible ones, in order. */
	mxdb_events evs;
	CHECK(mxdb_room_events(db, room, 0, 1, 100, &evs, &err) == MXDB_OK);
	size_t all = evs.n;
	CHECK(mxdb_events_visible(db, BOB, &evs, &err) == MXDB_OK);
	size_t msgs = 0;
	for (size_t i = 0; i < evs.n; i++) {
		if (i > 0)
			CHECK(evs.ev[i].pos < evs.ev[i - 1].pos);
		if (strcmp(evs.ev[i].type, "m.room.message") == 0)
			msgs++;
	}
	CHECK_MSG(msgs == (size_t)(want[0] + want[1] + want[2] + want[3]), "%s: %zu messages", hv, msgs);
	CHECK(evs.n <= all);
	mxdb_events_free(&evs);
	mxdb_free(room);
}

int main(void)
{
	char dir[128];
	tmpdir_make(dir, sizeof(dir), "visibility");
	mxdb *db = open_db(dir);
	mxdb_error err;
	{
		int v;
		CHECK(mxdb_event_visible(db, BOB, "$nope", &v, &err) == MXDB_ENOTFOUND);
	}
	const int world[4] = {1, 1, 1, 1}, shared[4] = {1, 1, 1, 0}, invited[4] = {0, 1, 1, 0},
	          joined[4] = {0, 0, 1, 0};
	test_setting(db, "world_readable", world, 1);
	test_setting(db, "shared", shared, 0);
	test_setting(db, "invited", invited, 0);
	test_setting(db, "joined", joined, 0);
	mxdb_close(db);
	tmpdir_remove(dir);
	return test_summary("test_engine_visibility");
}
