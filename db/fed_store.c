/*
 * fed_store.c: schema of the federation tables and the connection helper.
 * The engine may run these statements on its own connection (so queue rows
 * commit in the same transaction as the event); nothing here caches state.
 */
#include <string.h>
#include <time.h>

#include "fed_store.h"

/* Every table of module 'fed'. Timestamps are Matrix milliseconds. */
static const char fed_schema[] =
	"CREATE TABLE IF NOT EXISTS schema_versions("
	"  module TEXT PRIMARY KEY, version INTEGER NOT NULL);"
	/* Remote servers' public keys. valid_until is already capped at
	 * fetch time + 7 days; expired_ts is set for old_verify_keys (keys only
	 * good for events signed before it). */
	"CREATE TABLE IF NOT EXISTS fed_server_keys("
	"  server_name TEXT NOT NULL, key_id TEXT NOT NULL, public_key BLOB NOT NULL,"
	"  valid_until_ts INTEGER NOT NULL, expired_ts INTEGER,"
	"  fetched_ts INTEGER NOT NULL,"
	"  PRIMARY KEY(server_name, key_id));"
	/* Outbound queue: one row per PDU or EDU per destination, sent in id
	 * order; a row leaves only when the transaction holding it was accepted. */
	"CREATE TABLE IF NOT EXISTS fed_outbox("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL,"
	"  kind INTEGER NOT NULL, body TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS fed_outbox_dest ON fed_outbox(destination, id);"
	/* Per destination: back-off and the transaction in flight (re-sent with
	 * the same txn_id and rows until acknowledged, so a receiver dedupes). */
	"CREATE TABLE IF NOT EXISTS fed_destinations("
	"  destination TEXT PRIMARY KEY, retry_at INTEGER NOT NULL DEFAULT 0,"
	"  backoff_ms INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,"
	"  txn_counter INTEGER NOT NULL DEFAULT 0,"
	"  pending_txn TEXT, pending_last_id INTEGER);"
	/* Inbound transactions already processed: PUT /send is idempotent per
	 * (origin, txn_id); the stored response is answered again. */
	"CREATE TABLE IF NOT EXISTS fed_inbound_txns("
	"  origin TEXT NOT NULL, txn_id TEXT NOT NULL, response TEXT NOT NULL,"
	"  received_ts INTEGER NOT NULL, PRIMARY KEY(origin, txn_id));";

long long fed_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

mxdb_status fed_store_exec(sqlite3 *db, const char *sql, mxdb_error *err)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		mxdb_status st = mx_fail(err, MXDB_EIO, "sqlite: %s", msg ? msg : "error");
		sqlite3_free(msg);
		return st;
	}
	return MXDB_OK;
}

mxdb_status fed_store_migrate(sqlite3 *db, mxdb_error *err)
{
	mxdb_status st = fed_store_exec(db, "BEGIN IMMEDIATE", err);
	if (st != MXDB_OK)
		return st;
	st = fed_store_exec(db, fed_schema, err);
	sqlite3_stmt *q = NULL;
	if (st == MXDB_OK &&
	    sqlite3_prepare_v2(db, "SELECT version FROM schema_versions WHERE module='fed'", -1,
	                       &q, NULL) != SQLITE_OK)
		st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	if (st == MXDB_OK) {
		int rc = sqlite3_step(q);
		if (rc == SQLITE_ROW && sqlite3_column_int(q, 0) > FED_SCHEMA_VERSION)
			st = mx_fail(err, MXDB_EIO, "fed schema version %d is newer than this build (%d)",
			             sqlite3_column_int(q, 0), FED_SCHEMA_VERSION);
		else if (rc == SQLITE_DONE)
			st = fed_store_exec(db,
			                    "INSERT INTO schema_versions(module, version) VALUES('fed', 1)",
			                    err);
		else if (rc != SQLITE_ROW)
			st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(q);
	if (st != MXDB_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return st;
	}
	return fed_store_exec(db, "COMMIT", err);
}

mxdb_status fed_store_open(const char *path, sqlite3 **out, mxdb_error *err)
{
	sqlite3 *db = NULL;
	*out = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	                    NULL) != SQLITE_OK) {
		mxdb_status st = mx_fail(err, MXDB_EIO, "open %s: %s", path,
		                         db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return st;
	}
	sqlite3_busy_timeout(db, 5000);
	mxdb_status st = fed_store_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err);
	if (st == MXDB_OK)
		st = fed_store_migrate(db, err);
	if (st != MXDB_OK) {
		sqlite3_close(db);
		return st;
	}
	*out = db;
	return MXDB_OK;
}
