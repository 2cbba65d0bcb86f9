/* test_fed_gap.c: the pending events of db/fed_gap.c in a real SQLite
 * file: an event waits until every event it cites is stored, is dropped on
 * request, a room holds FED_PENDING_MAX at most, and a week-old one is
 * forgotten. The engine's events table is stood in for by the two columns
 * the queries read. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fed_gap.h"
#include "fed_store.h"
#include "testutil.h"

static size_t count(sqlite3 *db, const char *room, bool ready)
{
	json_t *pdus = NULL;
	mxdb_error err;
	CHECK(fed_pending_load(db, room, ready, &pdus, &err) == MXDB_OK);
	size_t n = json_object_size(pdus);
	json_decref(pdus);
	return n;
}

int main(void)
{
	char dir[] = "/tmp/test_fed_gap_XXXXXX", path[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/mxdb.sqlite3", dir);
	sqlite3 *db;
	mxdb_error err;
	long long now = fed_now_ms();
	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	CHECK(fed_store_exec(db, "PRAGMA synchronous=OFF;"
	                         " CREATE TABLE events(event_id TEXT PRIMARY KEY, sg INTEGER NOT NULL)",
	                     &err) == MXDB_OK);

	const char *refs[] = {"$prev", "$auth"};
	CHECK(fed_pending_add(db, "!r", "$e", "{\"depth\":3}", refs, 2, 1, now, &err) == MXDB_OK);
	CHECK(count(db, "!r", false) == 1 && count(db, "!r", true) == 0);
	CHECK(count(db, "!other", false) == 0);
	/* One of the two cited events is not enough; a prev event stored
	 * without its state (an outlier) is not enough either. */
	CHECK(fed_store_exec(db, "INSERT INTO events VALUES ('$auth', 0)", &err) == MXDB_OK);
	CHECK(count(db, "!r", true) == 0);
	CHECK(fed_store_exec(db, "INSERT INTO events VALUES ('$prev', 0)", &err) == MXDB_OK);
	CHECK(count(db, "!r", true) == 0);
	CHECK(fed_store_exec(db, "UPDATE events SET sg = 7 WHERE event_id = '$prev'", &err) == MXDB_OK);
	json_t *ready = NULL;
	CHECK(fed_pending_load(db, "!r", true, &ready, &err) == MXDB_OK);
	CHECK(json_integer_value(json_object_get(json_object_get(ready, "$e"), "depth")) == 3);
	json_decref(ready);
	CHECK(fed_pending_drop(db, "$e", &err) == MXDB_OK);
	CHECK(count(db, "!r", false) == 0);

	/* The cap per room; another room is not affected. */
	char id[32];
	for (int i = 0; i < FED_PENDING_MAX; i++) {
		snprintf(id, sizeof(id), "$m%d", i);
		CHECK(fed_pending_add(db, "!full", id, "{}", refs, 1, 1, now, &err) == MXDB_OK);
	}
	CHECK(fed_pending_add(db, "!full", "$over", "{}", refs, 1, 1, now, &err) == MXDB_ETOOLARGE);
	CHECK(fed_pending_add(db, "!r", "$f", "{}", refs, 1, 1, now, &err) == MXDB_OK);
	size_t n = 0;
	CHECK(fed_pending_count(db, "!full", &n, &err) == MXDB_OK && n == FED_PENDING_MAX);

	/* A week later every one of them is forgotten by the next add. */
	CHECK(fed_pending_add(db, "!r", "$g", "{}", refs, 1, 1, now + FED_PENDING_KEEP_MS + 1, &err) == MXDB_OK);
	CHECK(fed_pending_count(db, "!full", &n, &err) == MXDB_OK && n == 0);
	CHECK(count(db, "!r", false) == 1);
	sqlite3_stmt *q;
	CHECK(sqlite3_prepare_v2(db, "SELECT count(*) FROM fed_pending_refs", -1, &q, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return test_summary("test_fed_gap");
}
