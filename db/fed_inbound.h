/*
 * fed_inbound.h: the log of inbound transactions (fed_inbound_txns), which
 * makes PUT /_matrix/federation/v1/send/{txnId} idempotent per origin and
 * txnId: a replayed transaction gets the first answer and changes nothing.
 */
#ifndef MX_FED_INBOUND_H
#define MX_FED_INBOUND_H

#include <sqlite3.h>

#include "err.h"

/* How long a transaction ID is remembered. Senders retry within minutes;
 * a week covers any outage we back off through. */
#define FED_INBOUND_KEEP_MS (7LL * 24 * 3600 * 1000)

/* *response: the stored answer (malloc'd JSON text) when (origin, txn_id)
 * was processed before, else MXDB_ENOTFOUND. */
mxdb_status fed_inbound_seen(sqlite3 *db, const char *origin, const char *txn_id, char **response,
                             mxdb_error *err);
/* Records the answer to (origin, txn_id) and forgets entries past the keep time. */
mxdb_status fed_inbound_record(sqlite3 *db, const char *origin, const char *txn_id,
                               const char *response, long long now_ms, mxdb_error *err);

#endif
