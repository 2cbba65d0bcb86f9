/* test_engine_rows.c: rows through the C API on a real SQLite file: put, get,
 * delete (tombstones), scan with paging, compare-and-set, bad input each with
 * its own error and nothing changed, persistence across close and reopen. */
#include "engine_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define ALICE "@alice:test.local"

static int count_changes(void *ctx, const mxdb_change *c)
{
	(void)c;
	(*(int *)ctx)++;
	return 0;
}

static int changes_total(mxdb *db, const char *room)
{
	int n = 0;
	mxdb_error err;
	CHECK(mxdb_changes_since(db, 0, room, 0, count_changes, &n, &err) == MXDB_OK);
	return n;
}

static char *new_table(mxdb *db, const char *version)
{
	mxdb_table_options o = {.creator = ALICE, .room_version = version, .name = "todo"};
	char *room = NULL;
	mxdb_error err;
	mxdb_status s = mxdb_create_table(db, &o, &room, &err);
	CHECK_MSG(s == MXDB_OK, "create v%s: %s", version ? version : "default", err.message);
	return room;
}

static void test_put_get_delete(mxdb *db, const char *room)
{
	mxdb_error err;
	mxdb_write_result r1, r2;
	CHECK(mxdb_put(db, room, ALICE, "com.example.todo", "a", "{\"title\":\"one\"}", NULL, &r1, &err) == MXDB_OK);
	CHECK(r1.event_id[0] == '$' && r1.seq > 0 && r1.pos > 0);
	char *content = NULL, *eid = NULL;
	CHECK(mxdb_get(db, room, "com.example.todo", "a", &content, &eid, &err) == MXDB_OK);
	CHECK(content && strcmp(content, "{\"title\":\"one\"}") == 0);
	CHECK(eid && strcmp(eid, r1.event_id) == 0);
	mxdb_free(content);
	mxdb_free(eid);

	/* A second version replaces the first, with a larger seq and position. */
	CHECK(mxdb_put(db, room, ALICE, "com.example.todo", "a", "{\"title\":\"two\"}", r1.event_id, &r2, &err) == MXDB_OK);
	CHECK(r2.seq == r1.seq + 1 && r2.pos > r1.pos && strcmp(r2.event_id, r1.event_id) != 0);
	/* Compare-and-set against the old version fails and changes nothing. */
	uint64_t seq = mxdb_last_seq(db);
	CHECK(mxdb_put(db, room, ALICE, "com.example.todo", "a", "{\"title\":\"x\"}", r1.event_id, NULL, &err) == MXDB_ECONFLICT);
	CHECK(mxdb_last_seq(db) == seq);
	mxdb_write w = {.room = room, .sender = ALICE, .type = "com.example.todo", .state_key = "a",
	                .content = "{}", .if_none_match = 1};
	CHECK(mxdb_write_event(db, &w, NULL, &err) == MXDB_ECONFLICT);
	CHECK(mxdb_get(db, room, "com.example.todo", "a", &content, NULL, &err) == MXDB_OK);
	CHECK(content && strcmp(content, "{\"title\":\"two\"}") == 0);
	mxdb_free(content);

	/* Delete writes a tombstone: get answers not found, "*" no longer matches. */
	CHECK(mxdb_delete(db, room, ALICE, "com.example.todo", "a", "*", NULL, &err) == MXDB_OK);
	CHECK(mxdb_get(db, room, "com.example.todo", "a", &content, NULL, &err) == MXDB_ENOTFOUND);
	CHECK(mxdb_delete(db, room, ALICE, "com.example.todo", "a", "*", NULL, &err) == MXDB_ECONFLICT);
	/* create-only works on a deleted row */
	w.content = "{\"title\":\"three\"}";
	CHECK(mxdb_write_event(db, &w, NULL, &err) == MXDB_OK);
	CHECK(mxdb_write_event(db, &w, NULL, &err) == MXDB_ECONFLICT);
	CHECK(mxdb_get(db, room, "com.example.todo", "missing", NULL, NULL, &err) == MXDB_ENOTFOUND);
	CHECK(mxdb_get(db, "!nosuch:test.local", "com.example.todo", "a", NULL, NULL, &err) == MXDB_ENOTFOUND);
	CHECK(strstr(err.message, "no table") != NULL);
}

static void test_scan(mxdb *db, const char *room)
{
	mxdb_error err;
	char key[32], val[64];
	for (int i = 0; i < 25; i++) {
		snprintf(key, sizeof(key), "k%02d", i);
		snprintf(val, sizeof(val), "{\"i\":%d}", i);
		CHECK(mxdb_put(db, room, ALICE, "com.example.scan", key, val, NULL, NULL, &err) == MXDB_OK);
	}
	CHECK(mxdb_delete(db, room, ALICE, "com.example.scan", "k05", NULL, NULL, &err) == MXDB_OK);
	CHECK(mxdb_put(db, room, ALICE, "com.example.scan", "other", "{}", NULL, NULL, &err) == MXDB_OK);
	/* Pages of 10 over prefix "k": 24 live rows, in order, none twice. */
	mxdb_rows rows;
	char *from = NULL;
	int seen = 0, pages = 0, last = -1;
	do {
		CHECK(mxdb_scan(db, room, "com.example.scan", "k", 10, from, &rows, &err) == MXDB_OK);
		free(from);
		from = rows.next ? strdup(rows.next) : NULL;
		for (size_t i = 0; i < rows.n; i++) {
			int k = atoi(rows.rows[i].state_key + 1);
			CHECK(k > last && k != 5);
			last = k;
			seen++;
		}
		mxdb_rows_free(&rows);
		pages++;
	} while (from != NULL && pages < 10);
	CHECK(seen == 24);
	CHECK(pages == 3);
	/* Every type: includes the todo row and the room's own state rows. */
	CHECK(mxdb_scan(db, room, NULL, NULL, 1000, NULL, &rows, &err) == MXDB_OK);
	int todo = 0, create = 0;
	for (size_t i = 0; i < rows.n; i++) {
		todo += strcmp(rows.rows[i].type, "com.example.todo") == 0;
		create += strcmp(rows.rows[i].type, "m.room.create") == 0;
	}
	CHECK(todo == 1 && create == 1 && rows.next == NULL);
	mxdb_rows_free(&rows);
	CHECK(mxdb_scan(db, room, NULL, NULL, 10, "!!bad", &rows, &err) == MXDB_EINVAL);
}

static void test_bad_input(mxdb *db, const char *room)
{
	mxdb_error err;
	uint64_t seq = mxdb_last_seq(db), pos = mxdb_stream_pos(db);
	char longkey[300];
	memset(longkey, 'k', 256);
	longkey[256] = '\0';
	CHECK(mxdb_put(db, room, ALICE, "t", longkey, "{}", NULL, NULL, &err) == MXDB_EINVAL);
	CHECK(mxdb_put(db, room, ALICE, longkey, "k", "{}", NULL, NULL, &err) == MXDB_EINVAL);
	CHECK(mxdb_put(db, room, ALICE, "t", "k", "[1]", NULL, NULL, &err) == MXDB_EBADJSON);
	CHECK(mxdb_put(db, room, ALICE, "t", "\xff\xfe", "{}", NULL, NULL, &err) == MXDB_EINVAL);
	CHECK(mxdb_put(db, room, ALICE, "t", "k", "{\"a\":\"\xc3\"}", NULL, NULL, &err) == MXDB_EBADJSON);
	CHECK(mxdb_put(db, room, ALICE, "t", "k", "{\"a\":1.5}", NULL, NULL, &err) == MXDB_EBADJSON);
	CHECK(mxdb_put(db, room, ALICE, "t", "k", "{\"a\":", NULL, NULL, &err) == MXDB_ENOTJSON);
	CHECK(mxdb_put(db, "!unknown:test.local", ALICE, "t", "k", "{}", NULL, NULL, &err) == MXDB_ENOTFOUND);
	CHECK(mxdb_put(db, room, "@mallory:elsewhere", "t", "k", "{}", NULL, NULL, &err) == MXDB_EINVAL);
	size_t big = 70000;
	char *huge = malloc(big + 16);
	strcpy(huge, "{\"v\":\"");
	memset(huge + 6, 'x', big);
	strcpy(huge + 6 + big, "\"}");
	CHECK(mxdb_put(db, room, ALICE, "t", "k", huge, NULL, NULL, &err) == MXDB_ETOOLARGE);
	/* Under the content limit, over the PDU limit once signed. */
	big = 65500;
	memset(huge + 6, 'x', big);
	strcpy(huge + 6 + big, "\"}");
	CHECK(mxdb_put(db, room, ALICE, "t", "k", huge, NULL, NULL, &err) == MXDB_ETOOLARGE);
	free(huge);
	/* Not a member: the auth rules refuse. */
	CHECK(mxdb_put(db, room, "@bob:test.local", "t", "k", "{}", NULL, NULL, &err) == MXDB_EFORBIDDEN);
	CHECK(mxdb_last_seq(db) == seq && mxdb_stream_pos(db) == pos);
	CHECK(mxdb_get(db, room, "t", "k", NULL, NULL, &err) == MXDB_ENOTFOUND);
}

/* The state at past events, from the state groups: before and after. */
static void test_state_at(mxdb *db, const char *room)
{
	mxdb_error err;
	mxdb_write_result a1, a2, m;
	char *before = NULL, *after = NULL, *at_msg = NULL, *now = NULL;
	CHECK(mxdb_put(db, room, ALICE, "com.example.hist", "a", "{\"v\":1}", NULL, &a1, &err) == MXDB_OK);
	CHECK(mxdb_send(db, room, ALICE, "m.room.message", "{\"body\":\"x\"}", NULL, &m, &err) == MXDB_OK);
	CHECK(mxdb_put(db, room, ALICE, "com.example.hist", "a", "{\"v\":2}", NULL, &a2, &err) == MXDB_OK);
	CHECK(mxdb_state_ids_at(db, a2.event_id, 0, &before, &err) == MXDB_OK);
	CHECK(mxdb_state_ids_at(db, a2.event_id, 1, &after, &err) == MXDB_OK);
	CHECK(mxdb_state_ids_at(db, m.event_id, 0, &at_msg, &err) == MXDB_OK);
	CHECK(before && strstr(before, a1.event_id) && !strstr(before, a2.event_id));
	CHECK(after && strstr(after, a2.event_id) && !strstr(after, a1.event_id));
	CHECK(at_msg && before && strcmp(at_msg, before) == 0);
	/* After the newest event: the current state, the same IDs as mxdb_state. */
	CHECK(mxdb_state(db, room, &now, &err) == MXDB_OK);
	json_t *ids = after ? json_loads(after, 0, NULL) : NULL, *evs = now ? json_loads(now, 0, NULL) : NULL;
	CHECK(json_array_size(ids) > 5 && json_array_size(ids) == json_array_size(evs));
	size_t i, j, found = 0;
	json_t *e, *id;
	json_array_foreach(evs, i, e)
	{
		json_array_foreach(ids, j, id)
		{
			found += json_equal(id, json_object_get(e, "event_id"));
		}
	}
	CHECK(found == json_array_size(evs));
	json_decref(ids);
	json_decref(evs);
	CHECK(mxdb_state_ids_at(db, "$nope", 0, &now, &err) == MXDB_ENOTFOUND);
	mxdb_free(before);
	mxdb_free(after);
	mxdb_free(at_msg);
	mxdb_free(now);
}

int main(void)
{
	char dir[128];
	tmpdir_make(dir, sizeof(dir), "rows");
	mxdb *db = open_db(dir);
	const char *versions[] = {"10", "11", "12"};
	char *rooms[3];
	for (int v = 0; v < 3; v++) {
		rooms[v] = new_table(db, versions[v]);
		if (rooms[v] == NULL)
			continue;
		test_put_get_delete(db, rooms[v]);
		test_scan(db, rooms[v]);
		test_bad_input(db, rooms[v]);
		test_state_at(db, rooms[v]);
	}
	/* room_seq counts 1, 2, 3... within each room with no hole. */
	uint64_t total = mxdb_last_seq(db);
	int sum = 0;
	for (int v = 0; v < 3; v++)
		sum += changes_total(db, rooms[v]);
	CHECK((uint64_t)sum == total && changes_total(db, NULL) == sum);

	/* Close and reopen: everything is still there, and counting goes on. */
	char *content = NULL;
	mxdb_error err;
	/* One handle per directory. */
	mxdb *second = NULL;
	mxdb_options o2 = {.server_name = "test.local"};
	CHECK(mxdb_open(dir, &o2, &second, &err) == MXDB_EEXISTS && second == NULL);
	mxdb_close(db);
	db = open_db(dir);
	CHECK(mxdb_last_seq(db) == total);
	CHECK(mxdb_get(db, rooms[0], "com.example.todo", "a", &content, NULL, &err) == MXDB_OK);
	CHECK(content && strcmp(content, "{\"title\":\"three\"}") == 0);
	mxdb_free(content);
	mxdb_write_result r;
	CHECK(mxdb_put(db, rooms[2], ALICE, "com.example.todo", "b", "{\"x\":1}", NULL, &r, &err) == MXDB_OK);
	CHECK(r.seq == total + 1);
	for (int v = 0; v < 3; v++)
		mxdb_free(rooms[v]);
	mxdb_close(db);
	tmpdir_remove(dir);
	return test_summary("test_engine_rows");
}
