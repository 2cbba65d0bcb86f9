/* test_fed_inbound.c: the inbound transaction log in a real SQLite file:
 * a replay is recognised per (origin, txn ID), across connections, and old
 * entries are forgotten after the keep time. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fed_inbound.h"
#include "fed_store.h"
#include "testutil.h"

int main(void)
{
	char dir[] = "/tmp/test_fed_inbound_XXXXXX", path[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/mxdb.sqlite3", dir);
	sqlite3 *db;
	mxdb_error err;
	char *resp = NULL;
	long long now = fed_now_ms();
	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	CHECK(fed_inbound_seen(db, "b.test", "1", &resp, &err) == MXDB_ENOTFOUND && resp == NULL);
	CHECK(fed_inbound_record(db, "b.test", "1", "{\"pdus\":{}}", now, &err) == MXDB_OK);
	sqlite3_close(db);

	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	CHECK(fed_inbound_seen(db, "b.test", "1", &resp, &err) == MXDB_OK);
	CHECK(resp && strcmp(resp, "{\"pdus\":{}}") == 0);
	free(resp);
	/* The same txn ID from another origin is another transaction. */
	CHECK(fed_inbound_seen(db, "c.test", "1", &resp, &err) == MXDB_ENOTFOUND);
	/* A week later the entry is dropped by the next record. */
	CHECK(fed_inbound_record(db, "c.test", "9", "{}", now + FED_INBOUND_KEEP_MS + 1, &err) == MXDB_OK);
	CHECK(fed_inbound_seen(db, "b.test", "1", &resp, &err) == MXDB_ENOTFOUND);
	CHECK(fed_inbound_seen(db, "c.test", "9", &resp, &err) == MXDB_OK);
	free(resp);
	sqlite3_close(db);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return test_summary("test_fed_inbound");
}
