/*
 * fed_merge.h: fork merging over state groups (db/fed_merge.c). The states
 * at a room's extremities share most rows; a merge reads only the keys where
 * their state groups differ (sg_diff), resolves them with sr_resolve_part
 * and writes only the rows whose winner changed. Writer thread only.
 */
#ifndef MX_FED_MERGE_H
#define MX_FED_MERGE_H

#include "auth.h"
#include "engine.h"
#include "stateres.h"

/* The state group of the state before an event whose prev events are
 * prev[0..n) (stored): prev[0]'s group when n == 1, else a new group
 * holding their resolution. */
mxdb_status fed_merge_before(mxdb *db, eng_room *room, char *const *prev, size_t n,
                             const sr_lookup *lookup, int64_t *sg, mxdb_error *err);

/* An auth_state over state group sg, answering each (type, state_key) by a
 * keyed lookup (never loading the state); ctx keeps what it points to. */
typedef struct fed_group_ctx {
	mxdb *db;
	eng_room *room;
	int64_t sg;
	const sr_lookup *lookup;
} fed_group_ctx;
void fed_group_auth_state(fed_group_ctx *ctx, mxdb *db, eng_room *room, int64_t sg,
                          const sr_lookup *lookup, auth_state *out);

/* The cur_state row of (type, sk) in room (row->key_nid), made at pos
 * when the key never had one. */
mxdb_status fed_key_row(mxdb *db, eng_room *room, const char *type, const char *sk, int64_t pos,
                        eng_row *row, mxdb_error *err);

/* Makes the resolution of the states after ext[0..n) (stored events) the
 * room's current state, coming from group cur_sg: cur_state rows,
 * memberships and a `merge` change record for every row whose winner
 * changed, a state group for it (child of cur_sg), fed_room_sg. */
mxdb_status fed_merge_current(mxdb *db, eng_req *req, eng_room *room, char *const *ext, size_t n,
                              int64_t cur_sg, const sr_lookup *lookup, mxdb_error *err);

#endif
