/*
 * store.h: the SQLite file under a database: connections (one writer, a pool
 * of readers), cached prepared statements, schema migrations, and the state
 * groups (state at any event, stored as bounded delta chains). Knows tables
 * and SQL; knows nothing of rooms, auth or the writer thread.
 */
#ifndef MX_STORE_H
#define MX_STORE_H

#include <pthread.h>
#include <stdint.h>
#include <sqlite3.h>

#include "err.h"
#include "map.h"

typedef struct store_conn {
	sqlite3 *db;
	mx_map *stmts;          /* SQL text pointer -> sqlite3_stmt* */
	pthread_mutex_t lock;   /* readers: held while borrowed */
} store_conn;

typedef struct store {
	char *path;
	store_conn writer;      /* used by the writer thread only */
	store_conn *readers;
	int n_readers;
} store;

/* Opens (creating) the file, sets WAL and synchronous (full: FULL, else
 * NORMAL), migrates module "core", opens n_readers reader connections. */
mxdb_status store_open(const char *path, int full_sync, int n_readers, store **out,
                       mxdb_error *err);
void store_close(store *s);

/* Forward migrations of one module over schema_versions(module, version):
 * steps[i] brings the schema from version i to i+1; runs the missing ones
 * in one transaction. Any module sharing the file uses this. */
mxdb_status store_migrate(sqlite3 *db, const char *module, const char *const *steps, int n,
                          mxdb_error *err);

/* Borrows a reader connection (blocks when all are busy) / gives it back. */
store_conn *store_reader(store *s);
void store_release(store_conn *c);

/* The prepared statement for sql on c, reset and unbound. sql must be a
 * string with static lifetime: the cache is keyed by its address. NULL on
 * failure (message in err). */
sqlite3_stmt *store_stmt(store_conn *c, const char *sql, mxdb_error *err);
/* Runs one statement without results. */
mxdb_status store_exec(store_conn *c, const char *sql, mxdb_error *err);
/* The same through the statement cache (sql as for store_stmt): for the
 * statements run once per transaction (BEGIN, COMMIT, SAVEPOINT), which
 * store_exec would parse again every time. */
mxdb_status store_run(store_conn *c, const char *sql, mxdb_error *err);
/* An MXDB_EIO error naming the SQLite message. */
mxdb_status store_fail(store_conn *c, mxdb_error *err, const char *what);
/* A column as a new string (NULL for SQL NULL). */
char *store_col_str(sqlite3_stmt *st, int col);

/* ---- state groups (store_sg.c) ----
 * A state group is the state after a state event: a map key_nid -> event_nid
 * (key_nid = the cur_state row of (room, type, state_key); event_nid 0 in
 * a delta unsets the key). Each group
 * stores a delta against a base group: its parent, or at chain depths that
 * are multiples of SG_L^j an ancestor SG_L^j back. Storage is at most
 * (SG_LEVELS + 1) entries per change; reading walks at most
 * SG_LEVELS * (SG_L - 1) + depth / SG_L^SG_LEVELS groups. */
#define SG_L 32
/* Three levels: a checkpoint folds at most SG_L^3 = 32,768 changes (a
 * bounded pause for the writer); a fourth would fold a million at once. */
#define SG_LEVELS 3

typedef struct sg_entry {
	int64_t key_nid;
	int64_t event_nid;
} sg_entry;

/* Adds the group sg (allocated by the caller) with parent (0: none) and the
 * changes against the parent. *depth: the parent's chain depth when known
 * (saves a query), else -1; on return the new group's depth. */
mxdb_status sg_add(store_conn *c, int64_t sg, int64_t room_nid, int64_t parent,
                   const sg_entry *changes, size_t n, int64_t *depth, mxdb_error *err);
/* The full state of a group: a new map from the 8-byte key_nid to the
 * event_nid (as intptr_t). */
mxdb_status sg_load(store_conn *c, int64_t sg, mx_map **out, mxdb_error *err);
/* One key of a group's state: *pos is the event_nid, 0 when the key is unset. */
mxdb_status sg_lookup(store_conn *c, int64_t sg, int64_t key_nid, int64_t *pos, mxdb_error *err);
/* Where groups sgs[0..n) may differ: a key set K (every key whose event
 * differs between two of them is in it) and each group's state over K:
 * out[i] is a new map from the 8-byte key_nid to the event_nid (intptr_t,
 * 0 for unset), with the same keys for every i. Outside K all the groups
 * hold the same. Costs the deltas on each group's base chain down to the
 * deepest group on all the chains, not the size of the state. */
mxdb_status sg_diff(store_conn *c, const int64_t *sgs, size_t n, mx_map **out, mxdb_error *err);

#endif
