/*
 * acct_int.h: the accounts module's private state and SQL helpers, shared by
 * acct.c (users, devices, tokens), acct_profile.c (profiles, filters, txn
 * IDs) and acct_stream.c (account data, to-device, receipts, keys, sync).
 * Only acct*.c include it.
 */
#ifndef MX_ACCT_INT_H
#define MX_ACCT_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "acct.h"
#include "map.h"

struct acct_db {
	sqlite3 *db;
	pthread_mutex_t mu;        /* one connection: every call holds mu */
	char server_name[256];
	uint64_t pos;              /* the last stream position handed out */
	mx_map *tokens;            /* token -> "user\0device" cache */
	unsigned long long opslimit;
	size_t memlimit;
	void (*notify)(void *);
	void *notify_arg;
};

/* Wall-clock milliseconds (origin of timestamps such as last_seen_ts). */
int64_t acct_now_ms(void);
/* Prepares sql and binds the arguments described by types, one letter each:
 * 's' text, 'n' text or NULL, 'i' int64. NULL on failure (err filled). */
sqlite3_stmt *acct_stmt(acct_db *a, mxdb_error *err, const char *sql, const char *types, ...);
/* Runs a statement that returns no rows; finalizes it. */
mxdb_status acct_exec(acct_db *a, mxdb_error *err, const char *sql, const char *types, ...);
/* A column as a malloc'd string (NULL for SQL NULL). */
char *acct_col_str(sqlite3_stmt *st, int col);
/* Sets obj[key] to a text column unless it is NULL. */
void acct_set_col(json_t *obj, const char *key, sqlite3_stmt *st, int col);
/* Parses a JSON text column (NULL when it is not JSON). */
json_t *acct_col_json(sqlite3_stmt *st, int col);
/* Ends a read that filled list from q under mu: finalizes q, releases
 * mu, then hands the list over, or frees it when q could not be prepared
 * (acct_stmt filled err then). */
mxdb_status acct_list_end(acct_db *a, sqlite3_stmt *q, json_t *list, json_t **out);
/* The next stream position (caller holds mu). */
uint64_t acct_next_pos(acct_db *a);
/* Records the position before rows that hold it are deleted, so positions
 * never go back after a restart (caller holds mu). */
mxdb_status acct_save_pos(acct_db *a, mxdb_error *err);
/* Tells the long-polls (caller has released mu). */
void acct_notify(acct_db *a);

#endif
