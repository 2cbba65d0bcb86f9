/*
 * room_queue.c: the single writer thread with group commit. Callers queue a
 * request and block; the writer takes everything queued, runs each request
 * inside its own SAVEPOINT of ONE transaction (a refused write rolls back
 * alone), commits once (one fsync for the whole group), publishes the new
 * stream position, runs the callbacks in seq order, then wakes the callers.
 * Owns the queue, the thread and the position counters' recovery.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"

enum {
	BATCH_MAX = 1024,
	LINGER_US = 200,   /* the longest a group waits for stragglers */
	HISTORY = 16       /* batches remembered to estimate the concurrency */
};

/* Callers woken by a commit come back one by one; a writer that starts at
 * once commits a group of the first few and makes the rest wait for another
 * fsync. So when recent groups were larger than what is queued, wait a
 * little (at most LINGER_US) for the others: groups stay as large as the
 * number of concurrent writers. A lone writer never waits. */
static size_t linger_target(const size_t *hist)
{
	size_t t = 1;
	for (int i = 0; i < HISTORY; i++)
		if (hist[i] > t)
			t = hist[i];
	return t;
}

static size_t queued(const mxdb *db)
{
	size_t n = 0;
	for (const eng_req *r = db->qhead; r != NULL && n < BATCH_MAX; r = r->next)
		n++;
	return n;
}

static void linger(mxdb *db, size_t target)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += LINGER_US * 1000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!db->closing && queued(db) < target)
		if (pthread_cond_timedwait(&db->qcond, &db->qlock, &until) != 0)
			break;
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_SAVEPOINT[] = "SAVEPOINT req";
static const char SQL_RELEASE[] = "RELEASE req";

/* Invites received over federation hold stream positions too (no event of
 * a room here marks them); fed_invites exists once the fed module migrated,
 * which mxdb_open does before the writer starts. */
static const char SQL_MAX_POS[] = "SELECT max(coalesce((SELECT max(pos) FROM events), 0),"
                                  " coalesce((SELECT max(pos) FROM fed_invites), 0))";
static const char SQL_MAX_SEQ[] = "SELECT coalesce(max(seq), 0) FROM changes";
static const char SQL_MAX_SG[] = "SELECT coalesce(max(sg), 0) FROM state_groups";

static mxdb_status max_of(store_conn *c, const char *sql, int64_t *out, mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(c, sql, err);
	if (st == NULL)
		return MXDB_EIO;
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? MXDB_OK : store_fail(c, err, "counters");
}

mxdb_status eng_load_counters(mxdb *db, mxdb_error *err)
{
	int64_t pos, seq, sg;
	mxdb_status s;
	if ((s = max_of(&db->st->writer, SQL_MAX_POS, &pos, err)) != MXDB_OK ||
	    (s = max_of(&db->st->writer, SQL_MAX_SEQ, &seq, err)) != MXDB_OK ||
	    (s = max_of(&db->st->writer, SQL_MAX_SG, &sg, err)) != MXDB_OK)
		return s;
	db->next_pos = (uint64_t)pos + 1;
	db->next_seq = (uint64_t)seq + 1;
	db->next_sg = sg + 1;
	pthread_mutex_lock(&db->plock);
	db->pos = (uint64_t)pos;
	db->seq = (uint64_t)seq;
	pthread_mutex_unlock(&db->plock);
	return MXDB_OK;
}

static void room_free_v(void *p)
{
	eng_room_free(p);
}

static void req_drop_changes(eng_req *r)
{
	for (size_t i = 0; i < r->n_chg; i++)
		eng_change_free(&r->chg[i]);
	free(r->chg);
	r->chg = NULL;
	r->n_chg = r->cap_chg = 0;
}

/* Runs one request. Plain writes check everything before they write, so a
 * refusal leaves the transaction untouched and needs no SAVEPOINT (two
 * statements less per write); a failure after writing (I/O) spoils the
 * transaction: returns false and the whole group is rolled back. */
static bool run_one(mxdb *db, eng_req *r)
{
	store_conn *w = &db->st->writer;
	uint64_t pos = db->next_pos, seq = db->next_seq;
	int64_t sg = db->next_sg;
	mx_clear(&r->err);
	if (r->atomic && (r->status = store_run(w, SQL_SAVEPOINT, &r->err)) != MXDB_OK)
		return false;
	r->status = r->fn(db, r, r->arg, &r->err);
	if (r->status == MXDB_OK && r->atomic)
		r->status = store_run(w, SQL_RELEASE, &r->err);
	if (r->status == MXDB_OK)
		return true;
	if (r->atomic) {
		store_exec(w, "ROLLBACK TO req", NULL);
		store_exec(w, "RELEASE req", NULL);
		/* Server lists read inside the undone part may name memberships
		 * that no longer exist (or miss ones that exist again). */
		size_t it = 0, kl;
		const char *k;
		void *room;
		while (r->dirty && map_next(db->rooms, &it, &k, &kl, &room))
			fed_room_servers_changed(room);
	}
	db->next_pos = pos;
	db->next_seq = seq;
	db->next_sg = sg;
	req_drop_changes(r);
	return r->atomic || !r->dirty;
}

/* After a failed commit nothing of the batch is stored: forget the cached
 * rooms (some advanced) and reread the counters. */
static void batch_failed(mxdb *db, eng_req *batch, mxdb_status s, const char *why)
{
	map_free(db->rooms, room_free_v);
	db->rooms = map_new(64);
	eng_load_counters(db, NULL);
	for (eng_req *r = batch; r != NULL; r = r->next)
		if (r->status == MXDB_OK || r->dirty) {
			if (r->status == MXDB_OK || !r->dirty)
				r->status = mx_fail(&r->err, s, "commit failed: %s", why);
			req_drop_changes(r);
		}
}

static void run_batch(mxdb *db, eng_req *batch)
{
	store_conn *w = &db->st->writer;
	mxdb_error e;
	mxdb_status s = db->rooms == NULL ? mx_fail(&e, MXDB_ENOMEM, "room cache")
	                                  : store_run(w, SQL_BEGIN, &e);
	if (s != MXDB_OK) {
		for (eng_req *r = batch; r != NULL; r = r->next)
			r->status = mx_fail(&r->err, s, "%s", e.message);
	} else {
		bool ok = true;
		for (eng_req *r = batch; r != NULL && ok; r = r->next)
			ok = run_one(db, r);
		if (!ok)
			s = mx_fail(&e, MXDB_EIO, "a write failed half-way; the group is rolled back");
		if (!ok || (s = store_run(w, SQL_COMMIT, &e)) != MXDB_OK) {
			store_exec(w, "ROLLBACK", NULL);
			batch_failed(db, batch, s, e.message);
		}
	}
	uint64_t pos = db->next_pos - 1;
	pthread_mutex_lock(&db->plock);
	bool moved = pos != db->pos;
	db->pos = pos;
	db->seq = db->next_seq - 1;
	pthread_cond_broadcast(&db->pcond);
	pthread_mutex_unlock(&db->plock);
	if (moved)
		for (eng_req *r = batch; r != NULL; r = r->next)
			eng_dispatch(db, r->chg, r->n_chg, pos);
	if (moved)
		eng_dispatch(db, NULL, 0, pos);
	for (eng_req *r = batch; r != NULL; r = r->next)
		req_drop_changes(r);
	pthread_mutex_lock(&db->qlock);
	for (eng_req *r = batch, *next; r != NULL; r = next) {
		next = r->next; /* r belongs to its caller once done is set */
		r->done = true;
	}
	pthread_cond_broadcast(&db->done);
	pthread_mutex_unlock(&db->qlock);
}

static void *writer_main(void *arg)
{
	mxdb *db = arg;
	size_t hist[HISTORY] = {0};
	unsigned nb = 0;
	pthread_mutex_lock(&db->qlock);
	for (;;) {
		while (db->qhead == NULL && !db->closing)
			pthread_cond_wait(&db->qcond, &db->qlock);
		if (db->qhead == NULL)
			break;
		size_t target = linger_target(hist);
		if (target > 1 && queued(db) < target)
			linger(db, target);
		eng_req *batch = db->qhead, *last = batch;
		size_t n = 1;
		for (; n < BATCH_MAX && last->next != NULL; n++)
			last = last->next;
		hist[nb++ % HISTORY] = n;
		db->qhead = last->next;
		if (db->qhead == NULL)
			db->qtail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&db->qlock);
		run_batch(db, batch);
		pthread_mutex_lock(&db->qlock);
	}
	pthread_mutex_unlock(&db->qlock);
	return NULL;
}

static mxdb_status submit(mxdb *db, eng_fn fn, void *arg, bool atomic, mxdb_write_result *res,
                          mxdb_error *err)
{
	if (db->writer_started && pthread_equal(pthread_self(), db->writer))
		return mx_fail(err, MXDB_EINVAL, "a callback must not write");
	eng_req r = {.fn = fn, .arg = arg, .atomic = atomic};
	pthread_mutex_lock(&db->qlock);
	if (db->closing) {
		pthread_mutex_unlock(&db->qlock);
		return mx_fail(err, MXDB_ECLOSED, "the database is closing");
	}
	if (db->qtail != NULL)
		db->qtail->next = &r;
	else
		db->qhead = &r;
	db->qtail = &r;
	pthread_cond_signal(&db->qcond);
	while (!r.done)
		pthread_cond_wait(&db->done, &db->qlock);
	pthread_mutex_unlock(&db->qlock);
	if (res != NULL)
		*res = r.res;
	if (r.status != MXDB_OK && err != NULL)
		*err = r.err;
	return r.status;
}

mxdb_status eng_submit(mxdb *db, eng_fn fn, void *arg, mxdb_write_result *res, mxdb_error *err)
{
	return submit(db, fn, arg, false, res, err);
}

mxdb_status eng_submit_atomic(mxdb *db, eng_fn fn, void *arg, mxdb_write_result *res,
                              mxdb_error *err)
{
	return submit(db, fn, arg, true, res, err);
}

mxdb_status eng_start(mxdb *db, mxdb_error *err)
{
	db->rooms = map_new(64);
	if (db->rooms == NULL)
		return mx_fail(err, MXDB_ENOMEM, "room cache");
	mxdb_status s = eng_load_counters(db, err);
	if (s != MXDB_OK)
		return s;
	if (pthread_create(&db->writer, NULL, writer_main, db) != 0)
		return mx_fail(err, MXDB_EINTERNAL, "cannot start the writer thread");
	db->writer_started = true;
	return MXDB_OK;
}

void eng_stop(mxdb *db)
{
	if (db->writer_started) {
		pthread_mutex_lock(&db->qlock);
		db->closing = true;
		pthread_cond_signal(&db->qcond);
		pthread_mutex_unlock(&db->qlock);
		pthread_join(db->writer, NULL);
		db->writer_started = false;
	}
	pthread_mutex_lock(&db->plock);
	pthread_cond_broadcast(&db->pcond); /* release mxdb_wait */
	pthread_mutex_unlock(&db->plock);
	if (db->rooms != NULL)
		map_free(db->rooms, room_free_v);
	db->rooms = NULL;
}
