/*
 * fed_inbound.c: the inbound transaction log. Only remembers answers; the
 * processing of a transaction lives with the engine.
 */
#include <stdlib.h>
#include <string.h>

#include "fed_inbound.h"

mxdb_status fed_inbound_seen(sqlite3 *db, const char *origin, const char *txn_id, char **response,
                             mxdb_error *err)
{
	sqlite3_stmt *q;
	*response = NULL;
	if (sqlite3_prepare_v2(db, "SELECT response FROM fed_inbound_txns WHERE origin = ?1 AND txn_id = ?2",
	                       -1, &q, NULL) != SQLITE_OK)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(q, 1, origin, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, txn_id, -1, SQLITE_STATIC);
	mxdb_status st;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		st = (*response = strdup((const char *)sqlite3_column_text(q, 0))) ? MXDB_OK
		     : mx_fail(err, MXDB_ENOMEM, "response");
	else if (rc == SQLITE_DONE)
		st = mx_fail(err, MXDB_ENOTFOUND, "new transaction");
	else
		st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_finalize(q);
	return st;
}

mxdb_status fed_inbound_record(sqlite3 *db, const char *origin, const char *txn_id,
                               const char *response, long long now_ms, mxdb_error *err)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(db,
	                       "INSERT OR REPLACE INTO fed_inbound_txns(origin, txn_id, response, received_ts)"
	                       " VALUES(?1, ?2, ?3, ?4)",
	                       -1, &q, NULL) != SQLITE_OK)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(q, 1, origin, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, txn_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, response, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 4, now_ms);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, "DELETE FROM fed_inbound_txns WHERE received_ts < ?1", -1, &q, NULL) !=
	    SQLITE_OK)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(q, 1, now_ms - FED_INBOUND_KEEP_MS);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? MXDB_OK : mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
}
