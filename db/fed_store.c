/*
 * fed_store.c: schema of the federation tables and the connection helper.
 * The engine may run these statements on its own connection (so queue rows
 * commit in the same transaction as the event); nothing here caches state.
 */
#include <string.h>
#include <time.h>

#include "fed_gap.h"
#include "fed_store.h"
#include "store.h"

/* The migrations of module 'fed': step i brings version i to i + 1.
 * Timestamps are Matrix milliseconds. */
static const char *const fed_steps[FED_SCHEMA_VERSION] = {
	/* Remote servers' public keys. valid_until is already capped at
	 * fetch time + 7 days; expired_ts is set for old_verify_keys (keys only
	 * good for events signed before it). */
	"CREATE TABLE fed_server_keys("
	"  server_name TEXT NOT NULL, key_id TEXT NOT NULL, public_key BLOB NOT NULL,"
	"  valid_until_ts INTEGER NOT NULL, expired_ts INTEGER,"
	"  fetched_ts INTEGER NOT NULL,"
	"  PRIMARY KEY(server_name, key_id));"
	/* Outbound queue: one row per PDU or EDU per destination, sent in id
	 * order; a row leaves only when the transaction holding it was accepted. */
	"CREATE TABLE fed_outbox("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL,"
	"  kind INTEGER NOT NULL, body TEXT NOT NULL);"
	"CREATE INDEX fed_outbox_dest ON fed_outbox(destination, id);"
	/* Per destination: back-off and the transaction in flight (re-sent with
	 * the same txn_id and rows until acknowledged, so a receiver dedupes). */
	"CREATE TABLE fed_destinations("
	"  destination TEXT PRIMARY KEY, retry_at INTEGER NOT NULL DEFAULT 0,"
	"  backoff_ms INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,"
	"  txn_counter INTEGER NOT NULL DEFAULT 0,"
	"  pending_txn TEXT, pending_last_id INTEGER);"
	/* Inbound transactions already processed: PUT /send is idempotent per
	 * (origin, txn_id); the stored response is answered again. */
	"CREATE TABLE fed_inbound_txns("
	"  origin TEXT NOT NULL, txn_id TEXT NOT NULL, response TEXT NOT NULL,"
	"  received_ts INTEGER NOT NULL, PRIMARY KEY(origin, txn_id));"
	/* The room's current state group when a merge made it differ from the
	 * state after its newest event (valid while that event is still the
	 * newest, pos). */
	"CREATE TABLE fed_room_sg("
	"  room_nid INTEGER PRIMARY KEY, pos INTEGER NOT NULL, sg INTEGER NOT NULL);",
	/* Remote events stored although they failed the auth rules: they keep
	 * the graph whole but change nothing, and count as rejected wherever
	 * they are cited. */
	"CREATE TABLE fed_rejected(event_id TEXT PRIMARY KEY) WITHOUT ROWID;",
	/* Invites of our users to rooms not here yet (PUT /v2/invite), with
	 * the stripped state the inviting server sent; pos orders them in the
	 * user's room list and /sync. Ignored once the room is here. */
	"CREATE TABLE fed_invites(user_id TEXT NOT NULL, room_id TEXT NOT NULL,"
	"  event_id TEXT NOT NULL, sender TEXT NOT NULL, pos INTEGER NOT NULL,"
	"  invite_state TEXT NOT NULL, PRIMARY KEY(user_id, room_id)) WITHOUT ROWID;",
};

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

/* Module 'fed_knock', after 'fed': fed_invites keeps our users' knocks on
 * rooms not here too (membership 'knock'; via: the server that took the
 * knock, through which it is rescinded). */
static const char *const knock_steps[] = {
	"ALTER TABLE fed_invites ADD COLUMN membership TEXT NOT NULL DEFAULT 'invite';"
	"ALTER TABLE fed_invites ADD COLUMN via TEXT;",
};

mxdb_status fed_store_migrate(sqlite3 *db, mxdb_error *err)
{
	mxdb_status s = store_migrate(db, "fed", fed_steps, FED_SCHEMA_VERSION, err);
	if (s == MXDB_OK)
		s = store_migrate(db, "fed_knock", knock_steps, 1, err);
	return s == MXDB_OK ? fed_gap_migrate(db, err) : s;
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
