/*
 * fed_queue.h: the persistent outbound federation queue, one ordered list of
 * PDUs and EDUs per destination server (table fed_outbox), grouped into
 * transactions of at most 50 PDUs and 100 EDUs, with exponential back-off
 * per destination (fed_destinations). Rows leave only when the destination
 * accepted the transaction holding them, so a restart or an outage of any
 * length loses nothing and everything is delivered in order.
 *
 * Every function takes the connection to use: the engine pushes inside its
 * own write transaction; the sender thread takes and acknowledges on its own.
 */
#ifndef MX_FED_QUEUE_H
#define MX_FED_QUEUE_H

#include <sqlite3.h>
#include <jansson.h>

#include "err.h"

#define FED_TXN_MAX_PDUS 50
#define FED_TXN_MAX_EDUS 100

typedef enum fed_item_kind { FED_ITEM_PDU = 0, FED_ITEM_EDU = 1 } fed_item_kind;

typedef struct fed_backoff {
	long long initial_ms; /* first retry delay */
	long long cap_ms;     /* the delay never grows past this */
} fed_backoff;

/* One transaction to send. A transaction that was not acknowledged comes
 * back from fed_queue_take with the same txn_id and the same items. */
typedef struct fed_txn {
	char destination[256];
	char txn_id[64];
	json_t *pdus, *edus; /* arrays, owned */
	long long last_id;   /* the highest outbox row in it */
} fed_txn;

/* Appends one PDU or EDU (JSON object text) for destination. Runs in the
 * caller's transaction if one is open. */
mxdb_status fed_queue_push(sqlite3 *db, const char *destination, fed_item_kind kind,
                           const char *json, mxdb_error *err);

/* The next transaction for destination: MXDB_ENOTFOUND when nothing waits. */
mxdb_status fed_queue_take(sqlite3 *db, const char *destination, fed_txn *txn, mxdb_error *err);
void fed_txn_free(fed_txn *txn);

/* The body of PUT /send/{txnId}: {origin, origin_server_ts, pdus, edus}. */
json_t *fed_txn_body(const fed_txn *txn, const char *origin, long long now_ms);

/* The destination accepted txn: its rows go, the back-off resets. */
mxdb_status fed_queue_ack(sqlite3 *db, const fed_txn *txn, mxdb_error *err);

/* Sending failed: the delay doubles (initial..cap); *retry_at says when to
 * try again. */
mxdb_status fed_queue_failed(sqlite3 *db, const char *destination, long long now_ms,
                             const fed_backoff *policy, long long *retry_at, mxdb_error *err);

/* The destination showed it is alive (it sent us something): retry now. */
mxdb_status fed_queue_wake(sqlite3 *db, const char *destination, mxdb_error *err);

/* Destinations with queued items whose retry time has come (*dests: malloc'd
 * array of malloc'd names), and the earliest future retry time among the
 * others in *next_ms (0 when none). */
mxdb_status fed_queue_due(sqlite3 *db, long long now_ms, char ***dests, size_t *n,
                          long long *next_ms, mxdb_error *err);
void fed_queue_due_free(char **dests, size_t n);

/* Number of queued items for destination (for tests and metrics). */
mxdb_status fed_queue_length(sqlite3 *db, const char *destination, long long *n, mxdb_error *err);

#endif
