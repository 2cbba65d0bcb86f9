/*
 * fed_queue.c: the outbound federation queue over fed_outbox and
 * fed_destinations. Holds no state in memory; the tables are the queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "fed_queue.h"
#include "fed_store.h"

static mxdb_status prep(sqlite3 *db, const char *sql, sqlite3_stmt **q, mxdb_error *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, q, NULL) != SQLITE_OK)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	return MXDB_OK;
}

/* Steps a statement that returns no rows, then finalizes it. */
static mxdb_status done(sqlite3 *db, sqlite3_stmt *q, mxdb_error *err)
{
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	return MXDB_OK;
}

/* One-text-parameter statement without results. */
static mxdb_status exec1(sqlite3 *db, const char *sql, const char *arg, mxdb_error *err)
{
	sqlite3_stmt *q;
	mxdb_status st = prep(db, sql, &q, err);
	if (st != MXDB_OK)
		return st;
	sqlite3_bind_text(q, 1, arg, -1, SQLITE_STATIC);
	return done(db, q, err);
}

mxdb_status fed_queue_push(sqlite3 *db, const char *destination, fed_item_kind kind,
                           const char *json, mxdb_error *err)
{
	if (destination == NULL || *destination == '\0' || strlen(destination) >= 256 || json == NULL)
		return mx_fail(err, MXDB_EINVAL, "destination and item are required");
	mxdb_status st = exec1(db, "INSERT OR IGNORE INTO fed_destinations(destination) VALUES(?1)",
	                       destination, err);
	sqlite3_stmt *q;
	if (st == MXDB_OK)
		st = prep(db, "INSERT INTO fed_outbox(destination, kind, body) VALUES(?1, ?2, ?3)", &q, err);
	if (st != MXDB_OK)
		return st;
	sqlite3_bind_text(q, 1, destination, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, kind);
	sqlite3_bind_text(q, 3, json, -1, SQLITE_STATIC);
	return done(db, q, err);
}

void fed_txn_free(fed_txn *txn)
{
	json_decref(txn->pdus);
	json_decref(txn->edus);
	txn->pdus = txn->edus = NULL;
}

/* Reads the pending transaction's identity, or makes a new one: items in id
 * order until the first that would overflow its kind's limit, so a retry
 * rebuilds exactly the same set (rows at or below last_id never change). */
static mxdb_status fill(sqlite3 *db, fed_txn *txn, long long pending_last, mxdb_error *err)
{
	sqlite3_stmt *q;
	mxdb_status st = prep(db,
	                      "SELECT id, kind, body FROM fed_outbox WHERE destination = ?1"
	                      " AND (?2 = 0 OR id <= ?2) ORDER BY id LIMIT ?3",
	                      &q, err);
	if (st != MXDB_OK)
		return st;
	sqlite3_bind_text(q, 1, txn->destination, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, pending_last);
	sqlite3_bind_int(q, 3, FED_TXN_MAX_PDUS + FED_TXN_MAX_EDUS);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		json_t *arr = sqlite3_column_int(q, 1) == FED_ITEM_PDU ? txn->pdus : txn->edus;
		size_t limit = arr == txn->pdus ? FED_TXN_MAX_PDUS : FED_TXN_MAX_EDUS;
		if (json_array_size(arr) == limit)
			break;
		json_t *item = NULL;
		const char *body = (const char *)sqlite3_column_text(q, 2);
		st = cj_parse(body, (size_t)sqlite3_column_bytes(q, 2), &item, err);
		if (st != MXDB_OK)
			break;
		json_array_append_new(arr, item);
		txn->last_id = sqlite3_column_int64(q, 0);
	}
	if (st == MXDB_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_finalize(q);
	return st;
}

mxdb_status fed_queue_take(sqlite3 *db, const char *destination, fed_txn *txn, mxdb_error *err)
{
	memset(txn, 0, sizeof(*txn));
	if (strlen(destination) >= sizeof(txn->destination))
		return mx_fail(err, MXDB_EINVAL, "destination too long");
	strcpy(txn->destination, destination);
	txn->pdus = json_array();
	txn->edus = json_array();
	if (txn->pdus == NULL || txn->edus == NULL) {
		fed_txn_free(txn);
		return mx_fail(err, MXDB_ENOMEM, "transaction");
	}
	mxdb_status st = fed_store_exec(db, "BEGIN IMMEDIATE", err);
	if (st != MXDB_OK) {
		fed_txn_free(txn);
		return st;
	}
	sqlite3_stmt *q;
	long long pending_last = 0, counter = 0;
	st = prep(db,
	          "SELECT pending_txn, pending_last_id, txn_counter FROM fed_destinations"
	          " WHERE destination = ?1",
	          &q, err);
	if (st == MXDB_OK) {
		sqlite3_bind_text(q, 1, destination, -1, SQLITE_STATIC);
		int rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			const unsigned char *pending = sqlite3_column_text(q, 0);
			if (pending != NULL) {
				snprintf(txn->txn_id, sizeof(txn->txn_id), "%s", (const char *)pending);
				pending_last = sqlite3_column_int64(q, 1);
			}
			counter = sqlite3_column_int64(q, 2);
		} else if (rc == SQLITE_DONE) {
			st = mx_fail(err, MXDB_ENOTFOUND, "nothing queued for %s", destination);
		} else {
			st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
		}
		sqlite3_finalize(q);
	}
	if (st == MXDB_OK)
		st = fill(db, txn, pending_last, err);
	if (st == MXDB_OK && txn->last_id == 0)
		st = mx_fail(err, MXDB_ENOTFOUND, "nothing queued for %s", destination);
	if (st == MXDB_OK && pending_last == 0) {
		/* The time prefix keeps IDs unique even if the counter restarts
		 * (a wiped database): receivers drop a txn ID they have seen. */
		snprintf(txn->txn_id, sizeof(txn->txn_id), "%lld.%lld", fed_now_ms(), counter + 1);
		st = prep(db,
		          "UPDATE fed_destinations SET pending_txn = ?2, pending_last_id = ?3,"
		          " txn_counter = txn_counter + 1 WHERE destination = ?1",
		          &q, err);
		if (st == MXDB_OK) {
			sqlite3_bind_text(q, 1, destination, -1, SQLITE_STATIC);
			sqlite3_bind_text(q, 2, txn->txn_id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(q, 3, txn->last_id);
			st = done(db, q, err);
		}
	}
	if (st != MXDB_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		fed_txn_free(txn);
		return st;
	}
	st = fed_store_exec(db, "COMMIT", err);
	if (st != MXDB_OK)
		fed_txn_free(txn);
	return st;
}

json_t *fed_txn_body(const fed_txn *txn, const char *origin, long long now_ms)
{
	return json_pack("{s:s, s:I, s:O, s:O}", "origin", origin, "origin_server_ts",
	                 (json_int_t)now_ms, "pdus", txn->pdus, "edus", txn->edus);
}

mxdb_status fed_queue_ack(sqlite3 *db, const fed_txn *txn, mxdb_error *err)
{
	mxdb_status st = fed_store_exec(db, "BEGIN IMMEDIATE", err);
	if (st != MXDB_OK)
		return st;
	sqlite3_stmt *q;
	st = prep(db, "DELETE FROM fed_outbox WHERE destination = ?1 AND id <= ?2", &q, err);
	if (st == MXDB_OK) {
		sqlite3_bind_text(q, 1, txn->destination, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, txn->last_id);
		st = done(db, q, err);
	}
	if (st == MXDB_OK)
		st = exec1(db,
		           "UPDATE fed_destinations SET pending_txn = NULL, pending_last_id = NULL,"
		           " retry_at = 0, backoff_ms = 0, failures = 0 WHERE destination = ?1",
		           txn->destination, err);
	if (st != MXDB_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return st;
	}
	return fed_store_exec(db, "COMMIT", err);
}

mxdb_status fed_queue_failed(sqlite3 *db, const char *destination, long long now_ms,
                             const fed_backoff *policy, long long *retry_at, mxdb_error *err)
{
	sqlite3_stmt *q;
	mxdb_status st = prep(db,
	                      "UPDATE fed_destinations SET"
	                      " backoff_ms = MIN(?3, MAX(?2, backoff_ms * 2)),"
	                      " retry_at = ?4 + MIN(?3, MAX(?2, backoff_ms * 2)),"
	                      " failures = failures + 1 WHERE destination = ?1 RETURNING retry_at",
	                      &q, err);
	if (st != MXDB_OK)
		return st;
	sqlite3_bind_text(q, 1, destination, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, policy->initial_ms);
	sqlite3_bind_int64(q, 3, policy->cap_ms);
	sqlite3_bind_int64(q, 4, now_ms);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*retry_at = sqlite3_column_int64(q, 0);
		rc = sqlite3_step(q);
	} else if (rc == SQLITE_DONE) {
		*retry_at = now_ms;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	return MXDB_OK;
}

mxdb_status fed_queue_wake(sqlite3 *db, const char *destination, mxdb_error *err)
{
	return exec1(db,
	             "UPDATE fed_destinations SET retry_at = 0, backoff_ms = 0"
	             " WHERE destination = ?1 AND retry_at > 0",
	             destination, err);
}

mxdb_status fed_queue_due(sqlite3 *db, long long now_ms, char ***dests_out, size_t *n_out,
                          long long *next_ms, mxdb_error *err)
{
	*dests_out = NULL;
	*n_out = 0;
	*next_ms = 0;
	sqlite3_stmt *q;
	mxdb_status st = prep(db,
	                      "SELECT d.destination, d.retry_at FROM fed_destinations d"
	                      " WHERE EXISTS(SELECT 1 FROM fed_outbox o WHERE o.destination = d.destination)",
	                      &q, err);
	if (st != MXDB_OK)
		return st;
	char **dests = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		long long at = sqlite3_column_int64(q, 1);
		if (at > now_ms) {
			if (*next_ms == 0 || at < *next_ms)
				*next_ms = at;
			continue;
		}
		char **grown = realloc(dests, (n + 1) * sizeof(*dests));
		char *name = strdup((const char *)sqlite3_column_text(q, 0));
		if (grown == NULL || name == NULL) {
			free(name);
			dests = grown ? grown : dests;
			st = mx_fail(err, MXDB_ENOMEM, "destination list");
			break;
		}
		dests = grown;
		dests[n++] = name;
	}
	if (st == MXDB_OK && rc != SQLITE_DONE)
		st = mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	sqlite3_finalize(q);
	if (st != MXDB_OK) {
		fed_queue_due_free(dests, n);
		return st;
	}
	*dests_out = dests;
	*n_out = n;
	return MXDB_OK;
}

void fed_queue_due_free(char **dests, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(dests[i]);
	free(dests);
}

mxdb_status fed_queue_length(sqlite3 *db, const char *destination, long long *n, mxdb_error *err)
{
	sqlite3_stmt *q;
	mxdb_status st = prep(db, "SELECT COUNT(*) FROM fed_outbox WHERE destination = ?1", &q, err);
	if (st != MXDB_OK)
		return st;
	sqlite3_bind_text(q, 1, destination, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		return mx_fail(err, MXDB_EIO, "sqlite: %s", sqlite3_errmsg(db));
	return MXDB_OK;
}
