/* test_engine_unsigned.c: the unsigned block of client-format events, as
 * every read builds it: age from now, prev_content and replaces_state for a
 * state event that replaced an earlier version of its key (none for the
 * first version), the whole redaction event in redacted_because; and the
 * client-format state before and after an event (mxdb_state_at). */
#include "engine_util.h"

#include <jansson.h>

#include "testutil.h"

#define ALICE "@alice:test.local"

static json_t *event_json(mxdb *db, const char *event_id)
{
	char *text = NULL;
	mxdb_error err;
	CHECK_MSG(mxdb_event_get(db, event_id, &text, &err) == MXDB_OK, "%s", err.message);
	json_t *ev = text ? json_loads(text, 0, NULL) : NULL;
	mxdb_free(text);
	CHECK(json_is_object(ev));
	return ev ? ev : json_object();
}

static const char *unsigned_str(json_t *ev, const char *key)
{
	return json_string_value(json_object_get(json_object_get(ev, "unsigned"), key));
}

static void test_prev_content(mxdb *db, const char *room)
{
	mxdb_error err;
	mxdb_write_result r1, r2;
	CHECK(mxdb_put(db, room, ALICE, "app.row", "k", "{\"v\":1}", NULL, &r1, &err) == MXDB_OK);
	CHECK(mxdb_put(db, room, ALICE, "app.row", "k", "{\"v\":2}", NULL, &r2, &err) == MXDB_OK);

	json_t *first = event_json(db, r1.event_id);
	json_t *u = json_object_get(first, "unsigned");
	CHECK(json_object_get(u, "prev_content") == NULL && json_object_get(u, "replaces_state") == NULL);
	json_int_t age = json_integer_value(json_object_get(u, "age"));
	CHECK_MSG(json_is_integer(json_object_get(u, "age")) && age >= 0 && age < 60000, "age %lld",
	          (long long)age);
	json_decref(first);

	json_t *second = event_json(db, r2.event_id);
	CHECK(unsigned_str(second, "replaces_state") &&
	      strcmp(unsigned_str(second, "replaces_state"), r1.event_id) == 0);
	json_t *prev = json_object_get(json_object_get(second, "unsigned"), "prev_content");
	CHECK(json_integer_value(json_object_get(prev, "v")) == 1);
	json_decref(second);

	/* The same block on the timeline and in the current state. */
	mxdb_events evs;
	CHECK(mxdb_room_events(db, room, 0, 1, 1, &evs, &err) == MXDB_OK);
	CHECK(evs.n == 1 && strstr(evs.ev[0].json, "\"replaces_state\":\"") &&
	      strstr(evs.ev[0].json, r1.event_id));
	mxdb_events_free(&evs);
	char *state = NULL;
	CHECK(mxdb_state_event(db, room, "app.row", "k", &state, &err) == MXDB_OK);
	CHECK(state && strstr(state, "\"prev_content\":{\"v\":1}"));
	mxdb_free(state);
	/* The client-format state around the second version: before it the
	 * key holds the first, after it the second. */
	CHECK(mxdb_state_at(db, r2.event_id, 0, &state, &err) == MXDB_OK);
	CHECK(state && strstr(state, r1.event_id) && !strstr(state, r2.event_id) &&
	      strstr(state, "\"content\":{\"v\":1}"));
	mxdb_free(state);
	CHECK(mxdb_state_at(db, r2.event_id, 1, &state, &err) == MXDB_OK);
	CHECK(state && strstr(state, r2.event_id) && !strstr(state, "\"content\":{\"v\":1}"));
	mxdb_free(state);
}

static void test_redacted_because(mxdb *db, const char *room)
{
	mxdb_error err;
	mxdb_write_result msg, red;
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"hi\"}", NULL, &msg, &err) ==
	      MXDB_OK);
	CHECK(mxdb_redact(db, room, ALICE, msg.event_id, "typo", NULL, &red, &err) == MXDB_OK);
	json_t *ev = event_json(db, msg.event_id);
	json_t *because = json_object_get(json_object_get(ev, "unsigned"), "redacted_because");
	const char *id = json_string_value(json_object_get(because, "event_id"));
	CHECK(id && strcmp(id, red.event_id) == 0);
	CHECK(json_is_string(json_object_get(because, "sender")) &&
	      strcmp(json_string_value(json_object_get(because, "sender")), ALICE) == 0);
	CHECK(json_is_integer(json_object_get(because, "origin_server_ts")));
	CHECK(json_is_string(json_object_get(because, "room_id")));
	const char *reason = json_string_value(json_object_get(json_object_get(because, "content"), "reason"));
	CHECK(reason && strcmp(reason, "typo") == 0);
	CHECK(json_object_size(json_object_get(ev, "content")) == 0);
	json_decref(ev);
}

int main(void)
{
	char dir[128];
	tmpdir_make(dir, sizeof(dir), "unsigned");
	mxdb *db = open_db(dir);
	const char *versions[] = {"10", "11"};
	for (int v = 0; v < 2; v++) {
		mxdb_error err;
		char *room = NULL;
		mxdb_table_options o = {.creator = ALICE, .room_version = versions[v]};
		CHECK_MSG(mxdb_create_table(db, &o, &room, &err) == MXDB_OK, "%s", err.message);
		if (room == NULL)
			continue;
		test_prev_content(db, room);
		test_redacted_because(db, room);
		mxdb_free(room);
	}
	mxdb_close(db);
	tmpdir_remove(dir);
	return test_summary("test_engine_unsigned");
}
