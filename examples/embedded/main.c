/*
 * examples/embedded/main.c: an app embedding mxdb. Opens a data directory,
 * creates a table, watches its changes, writes and reads rows, pages
 * through them, and catches up on the change log from seq 0.
 *
 *     example_embedded [DATA_DIR]      (default ./embedded-data)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxdb.h"

#define ME "@app:localhost:8008"

static int print_change(void *ctx, const mxdb_change *c)
{
	(void)ctx;
	printf("  change seq=%llu room_seq=%llu %s/%s -> %s\n", (unsigned long long)c->seq,
	       (unsigned long long)c->room_seq, c->type, c->key, c->content ? c->content : "(deleted)");
	return 0;
}

static int fail(const char *what, const mxdb_error *err)
{
	fprintf(stderr, "%s: %s (%s)\n", what, err->message, mxdb_status_name(err->code));
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "./embedded-data";
	mxdb *db;
	mxdb_error err;
	if (mxdb_open(dir, NULL, &db, &err) != MXDB_OK)
		return fail("open", &err);
	printf("server %s, key %s\n", mxdb_server_name(db), mxdb_key_id(db));

	/* A table that every member may write (state_default 0). */
	mxdb_table_options opt = {.creator = ME, .name = "todo", .has_state_default = 1};
	char *room;
	if (mxdb_create_table(db, &opt, &room, &err) != MXDB_OK)
		return fail("create table", &err);
	printf("table %s\n", room);
	uint64_t since = mxdb_last_seq(db);
	int sub = mxdb_on_change(db, print_change, NULL);

	mxdb_write_result res;
	if (mxdb_put(db, room, ME, "com.example.todo", "milk", "{\"done\":false}", NULL, &res, &err) != MXDB_OK)
		return fail("put", &err);
	/* Compare-and-set: only if the row is still the version we wrote. */
	if (mxdb_put(db, room, ME, "com.example.todo", "milk", "{\"done\":true}", res.event_id, &res, &err) != MXDB_OK)
		return fail("cas put", &err);
	if (mxdb_put(db, room, ME, "com.example.todo", "bread", "{\"done\":false}", NULL, NULL, &err) != MXDB_OK)
		return fail("put", &err);
	if (mxdb_delete(db, room, ME, "com.example.todo", "bread", NULL, NULL, &err) != MXDB_OK)
		return fail("delete", &err);

	char *value, *version;
	if (mxdb_get(db, room, "com.example.todo", "milk", &value, &version, &err) != MXDB_OK)
		return fail("get", &err);
	printf("milk = %s (version %s)\n", value, version);
	mxdb_free(value);
	mxdb_free(version);
	if (mxdb_get(db, room, "com.example.todo", "bread", NULL, NULL, &err) != MXDB_ENOTFOUND)
		return fail("get deleted", &err);

	mxdb_rows rows;
	if (mxdb_scan(db, room, "com.example.todo", NULL, 10, NULL, &rows, &err) != MXDB_OK)
		return fail("scan", &err);
	for (size_t i = 0; i < rows.n; i++)
		printf("row %s = %s\n", rows.rows[i].state_key, rows.rows[i].content);
	mxdb_rows_free(&rows);

	mxdb_unsubscribe(db, sub);
	printf("catch-up from seq %llu:\n", (unsigned long long)since);
	if (mxdb_changes_since(db, since, room, 0, print_change, NULL, &err) != MXDB_OK)
		return fail("changes", &err);
	mxdb_free(room);
	mxdb_close(db);
	return 0;
}
