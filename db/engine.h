/*
 * engine.h: the inside of an mxdb handle, shared by the files of the room
 * engine (mxdb.c: open/close; room_write.c: the writer thread and the write
 * path; room_create.c: createRoom; room_read.c: reads; change.c: change
 * records and callbacks). Not a public header.
 */
#ifndef MX_ENGINE_H
#define MX_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "auth.h"
#include "cjson.h"
#include "ev.h"
#include "keys.h"
#include "map.h"
#include "mxdb.h"
#include "room_version.h"
#include "store.h"

/* A room as the writer knows it: what building and authorizing an event
 * needs without a query. Owned by the writer thread; rebuilt from the
 * database after a failed commit. */
typedef struct eng_room {
	struct mxdb *db;
	int64_t nid;
	char *room_id;
	const mx_room_version *rv;
	ev_t *create;        /* the m.room.create event */
	char **extrem;       /* forward extremities (event IDs) */
	size_t n_extrem;
	int64_t depth;       /* the largest depth among them */
	int64_t sg;          /* the current state group */
	int64_t sg_depth;    /* its chain depth, -1 when not known yet */
	uint64_t room_seq;   /* the last change's room_seq */
	mx_map *auth;        /* state key -> ev_t* (or eng_absent) of looked-up state */
	mx_map *auth_ids;    /* event ID -> the same ev_t* (borrowed from auth) */
	char **servers;      /* the servers with joined members (federation's
	                        queue), valid when servers_known; member events
	                        forget it (fed_room_servers_changed) */
	size_t n_servers;
	bool servers_known;
} eng_room;

extern ev_t eng_absent;  /* marks "looked up, not in the state" in eng_room.auth */

/* A change recorded in the writer, dispatched to callbacks after commit. */
typedef struct eng_change {
	mxdb_change c;       /* strings point into the fields below */
	char *room, *type, *key, *event, *prev, *sender, *content;
} eng_change;

enum { ENG_MAX_CALLBACKS = 32 };

typedef struct eng_callback {
	int id;
	mxdb_change_fn change;
	mxdb_commit_fn commit;
	void *ctx;
} eng_callback;

typedef struct eng_req eng_req;
typedef mxdb_status (*eng_fn)(mxdb *db, eng_req *req, void *arg, mxdb_error *err);

/* One queued write request: fn(db, req, arg, err) runs on the writer thread. */
struct eng_req {
	eng_req *next;
	eng_fn fn;
	void *arg;
	mxdb_write_result res;
	mxdb_status status;
	mxdb_error err;
	bool done;
	eng_change *chg; /* the changes it made, dispatched after commit */
	size_t n_chg, cap_chg;
	mxdb_cause cause; /* of the changes it makes: LOCAL unless federation says */
	bool detached;    /* federation: the event lost a merge; store it and its state
	                     group, but leave current state and change records alone */
	bool rejected;    /* federation: the event failed the auth rules; store it (the
	                     graph stays whole) with the state before it, change nothing */
	bool atomic;     /* may fail after writing: run inside a SAVEPOINT */
	bool dirty;      /* has written (a failure now spoils the transaction) */
};

struct mxdb {
	char *dir, *db_path;
	int lock_fd;         /* <dir>/lock, flock'ed: one handle per directory */
	char server_name[256];
	const mx_room_version *default_rv;
	mx_key key;
	char pk_b64[64];
	store *st;

	/* The write queue (qlock): callers append and wait on done. */
	pthread_mutex_t qlock;
	pthread_cond_t qcond, done;
	eng_req *qhead, *qtail;
	bool closing;
	pthread_t writer;
	bool writer_started;

	/* Writer-thread state. */
	mx_map *rooms;       /* room_id -> eng_room* */
	uint64_t next_pos, next_seq;
	int64_t next_sg;

	/* Published after each commit (plock). */
	pthread_mutex_t plock;
	pthread_cond_t pcond;
	uint64_t pos, seq;

	/* Callbacks (cblock held while they run). */
	pthread_mutex_t cblock;
	eng_callback cbs[ENG_MAX_CALLBACKS];
	int n_cbs, next_cb_id;
};

/* The current row (type, state_key) of room, from the writer's connection:
 * key_nid 0 when the key was never set. event_id: new string or NULL. */
typedef struct eng_row {
	int64_t key_nid, pos;
	char *event_id;
	bool tombstone;
} eng_row;

/* ---- room_queue.c ---- */
mxdb_status eng_start(mxdb *db, mxdb_error *err);
void eng_stop(mxdb *db);
/* Loads the counters (next_pos, next_seq, next_sg) from the database. */
mxdb_status eng_load_counters(mxdb *db, mxdb_error *err);

/* What one event to build says (content borrowed). */
typedef struct eng_spec {
	const char *sender, *type, *state_key, *redacts, *txn_id;
	json_t *content;
} eng_spec;

/* Builds, signs, authorizes and persists one event in room, inside the
 * writer's open transaction. res may be NULL; changes are appended to req. */
mxdb_status eng_emit(mxdb *db, eng_req *req, eng_room *room, const eng_spec *spec,
                     const eng_row *cur, mxdb_write_result *res, mxdb_error *err);
/* The create event of a new room (fills room->room_id, nid, create). */
mxdb_status eng_emit_create(mxdb *db, eng_req *req, eng_room *room, const char *sender,
                            json_t *content, int public_room, mxdb_write_result *res,
                            mxdb_error *err);
void eng_room_free(eng_room *room);
/* The room (ID or alias) for the writer, loaded and cached on first use. */
mxdb_status eng_room_get(mxdb *db, const char *room, eng_room **out, mxdb_error *err);
/* Auth state over the room's current state (for auth_user_power etc.). */
void eng_auth_state(eng_room *room, auth_state *out);
mxdb_status eng_row_get(mxdb *db, eng_room *room, const char *type, const char *state_key,
                        eng_row *out, mxdb_error *err);
/* Runs fn(db, req, arg, err) on the writer thread inside the group-commit
 * transaction, and waits until it is durable; res gets req->res. */
mxdb_status eng_submit(mxdb *db, eng_fn fn, void *arg, mxdb_write_result *res, mxdb_error *err);
/* Records a change of a row for the callbacks, with req->cause. */
mxdb_status eng_change_add(eng_req *req, const eng_room *room, const ev_t *ev, const char *prev,
                           const char *content, uint64_t seq, uint64_t pos);
/* The auth_events of an event about to be built (room_build.c). */
json_t *eng_auth_events_for(eng_room *room, const eng_spec *spec);
/* The same for a request that may fail after it wrote (createRoom): it runs
 * inside its own SAVEPOINT so that its failure undoes only itself. */
mxdb_status eng_submit_atomic(mxdb *db, eng_fn fn, void *arg, mxdb_write_result *res,
                              mxdb_error *err);
/* The events row of ev at pos in state group sg (0: none, an outlier:
 * events.outlier, fed_outlier.h);
 * content and skel: its content and the PDU without it, dumped. */
mxdb_status eng_insert_event(store_conn *w, int64_t pos, int64_t room_nid, const ev_t *ev, int64_t sg,
                             const char *txn_id, const char *content, const cj_buf *skel,
                             mxdb_error *err);
/* Persists an authorized event (takes ev), room_write.c. */
mxdb_status eng_persist(mxdb *db, eng_req *req, eng_room *room, ev_t *ev, const char *txn_id,
                        const eng_row *cur, mxdb_write_result *res, mxdb_error *err);
/* Is user_id a local user ("@x:server_name"), well formed? */
mxdb_status eng_check_user(mxdb *db, const char *user_id, mxdb_error *err);

/* ---- room_restricted.c: joins to restricted rooms ---- */
/* The user of ours who authorises user_id's join to room under a restricted
 * join rule (*via: new string: joined, at least the invite level, the most
 * power, then the smallest ID), or *via NULL when the join needs none (the
 * rule is not restricted; user_id is invited or joined already). Fails
 * with MXDB_EFORBIDDEN when no allow condition holds by the rooms here,
 * MXDB_EUNVERIFIABLE when none of the allow rooms is here (users of other
 * servers only: ours are in no room we lack), MXDB_ENOGRANT when one holds
 * but no user of ours may invite. */
mxdb_status eng_join_authoriser(mxdb *db, eng_room *room, const char *user_id, char **via,
                                mxdb_error *err);
/* Adds join_authorised_via_users_server to a join's content (changed in
 * place) when the room wants it and the content has none. */
mxdb_status eng_join_authorise(mxdb *db, eng_room *room, const char *user_id, json_t *content,
                               mxdb_error *err);

/* ---- fed_room.c, fed_join.c (federation) ---- */
/* Queues a local event for every other server in the room (fed_outbox, in
 * the writer's transaction). */
mxdb_status fed_room_queue_local(mxdb *db, eng_room *room, const ev_t *ev, mxdb_error *err);
/* pos and state group of a stored event (pos 0: unknown), on any connection. */
mxdb_status fed_event_pos(store_conn *c, const char *event_id, int64_t *pos, int64_t *sg,
                          mxdb_error *err);
/* The servers with a joined member in the room (fed_read.c), on any
 * connection; fed_servers_free frees the list. */
mxdb_status fed_servers_query(store_conn *c, int64_t room_nid, char ***servers, size_t *n,
                              mxdb_error *err);
void fed_servers_free(char **servers, size_t n);
/* Forgets the room's cached server list (fed_join.c): a member event changed
 * who is joined. */
void fed_room_servers_changed(eng_room *room);
/* Records that a row of room now holds win, stored at pos (fed_place.c):
 * its change record with req->cause (prev_pos, prev_id: the version it
 * replaced, 0 / NULL for none), the membership of a member event, the
 * change for the callbacks. The cur_state row is the caller's. */
mxdb_status fed_row_changed(mxdb *db, eng_req *req, eng_room *room, const ev_t *win, int64_t pos,
                            int64_t prev_pos, const char *prev_id, mxdb_error *err);

/* ---- room_create.c: runs on the writer thread ---- */
typedef struct eng_create {
	const mxdb_table_options *opt;
	const mx_room_version *rv;
	json_t *pl_override, *creation, *initial; /* parsed, owned by the caller */
	char *room_id;                            /* out */
} eng_create;
mxdb_status eng_create_room(mxdb *db, eng_req *req, eng_create *c, mxdb_error *err);

/* ---- change.c ---- */
void eng_dispatch(mxdb *db, eng_change *chg, size_t n, uint64_t pos);
void eng_change_free(eng_change *c);

/* ---- room_read.c ---- */
/* An alias ("#...") to its room ID (*resolved, new string); a room ID
 * ("!...") passes with *resolved NULL; anything else is MXDB_EINVAL. */
mxdb_status rd_alias(store_conn *c, const char *name, char **resolved, mxdb_error *err);
/* Resolves a room ID or alias to its storage nid (and room ID if out given). */
mxdb_status rd_room_nid(store_conn *c, const char *room, int64_t *nid, char **room_id,
                        mxdb_error *err);
/* Loads a stored event's signed PDU (skeleton + content). */
mxdb_status rd_pdu(store_conn *c, int64_t pos, json_t **out, char **event_id, mxdb_error *err);

/* A JSON value as a new compact string, or NULL. */
char *eng_dumps(const json_t *v);
int64_t eng_now_ms(void);

#endif
