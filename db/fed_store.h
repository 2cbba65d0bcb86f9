/*
 * fed_store.h: the federation module's SQLite tables (module 'fed') inside
 * the engine's file <data>/mxdb.sqlite3: the remote key cache, the outbound
 * queue and the inbound transaction log. Owns the schema and its version row
 * in schema_versions; never touches another module's tables.
 */
#ifndef MX_FED_STORE_H
#define MX_FED_STORE_H

#include <sqlite3.h>

#include "err.h"

#define FED_SCHEMA_VERSION 3

/* Brings the fed tables on db to FED_SCHEMA_VERSION (store_migrate). Safe
 * to call on every open, from any connection. */
mxdb_status fed_store_migrate(sqlite3 *db, mxdb_error *err);

/* Opens an own connection to path (WAL, busy timeout, foreign keys) and
 * migrates it. Close with sqlite3_close. */
mxdb_status fed_store_open(const char *path, sqlite3 **out, mxdb_error *err);

/* Runs one statement without results; the error carries SQLite's message. */
mxdb_status fed_store_exec(sqlite3 *db, const char *sql, mxdb_error *err);

/* Milliseconds since the epoch (wall clock), as Matrix timestamps are. */
long long fed_now_ms(void);

#endif
