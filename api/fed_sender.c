/*
 * fed_sender.c: the threads that deliver the outbound queue. A coordinator
 * wakes on kicks and retry times and starts one worker per due destination;
 * a worker sends that destination's transactions one after another (the
 * receiver must see them in order) until the queue is empty or a send fails.
 * The queue's tables are the only state that matters: stopping or crashing
 * at any point loses nothing, the next start sends the same transactions.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fed_sender.h"
#include "fed_store.h"
#include "log.h"

typedef struct worker {
	struct fed_sender *s;
	char dest[256];
	pthread_t thread;
	int done; /* set by the worker as it leaves; under s->mu */
	struct worker *next;
} worker;

typedef struct alive {
	char *dest;
	struct alive *next;
} alive;

struct fed_sender {
	pthread_t announcer;
	bool announcing;
	char *db_path, *origin;
	fed_client *client;
	fed_backoff backoff;
	sqlite3 *db; /* the coordinator's connection */
	pthread_t coordinator;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int kicked, stopping;
	uint64_t gen; /* bumped by every kick: lingering workers watch it */
	worker *workers;
	alive *alive;
	alive *waiting; /* destinations in back-off: only these need a wake-up */
};

static int stopping(fed_sender *s)
{
	pthread_mutex_lock(&s->mu);
	int v = s->stopping;
	pthread_mutex_unlock(&s->mu);
	return v;
}

void fed_sender_kick(fed_sender *s)
{
	pthread_mutex_lock(&s->mu);
	s->kicked = 1;
	s->gen++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Adds or removes destination in the list of those backing off. */
static void set_waiting(fed_sender *s, const char *destination, bool waiting)
{
	pthread_mutex_lock(&s->mu);
	alive **p = &s->waiting;
	while (*p && strcmp((*p)->dest, destination) != 0)
		p = &(*p)->next;
	if (*p && !waiting) {
		alive *gone = *p;
		*p = gone->next;
		free(gone->dest);
		free(gone);
	} else if (*p == NULL && waiting) {
		alive *a = malloc(sizeof(*a));
		if (a && (a->dest = strdup(destination)) != NULL) {
			a->next = s->waiting;
			s->waiting = a;
		} else {
			free(a);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

void fed_sender_peer_alive(fed_sender *s, const char *destination)
{
	/* Cheap when we are not waiting for that server (every inbound
	 * request comes here). */
	pthread_mutex_lock(&s->mu);
	alive *w = s->waiting;
	while (w && strcmp(w->dest, destination) != 0)
		w = w->next;
	pthread_mutex_unlock(&s->mu);
	if (w == NULL)
		return;
	alive *a = malloc(sizeof(*a));
	if (a == NULL || (a->dest = strdup(destination)) == NULL) {
		free(a);
		return; /* the back-off just runs its course */
	}
	pthread_mutex_lock(&s->mu);
	a->next = s->alive;
	s->alive = a;
	s->kicked = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Sends one transaction; 1 when the destination accepted it. */
static int send_one(fed_sender *s, sqlite3 *db, fed_txn *t)
{
	mxdb_error err;
	char uri[128];
	long status = 0;
	json_t *resp = NULL;
	json_t *body = fed_txn_body(t, s->origin, fed_now_ms());
	snprintf(uri, sizeof(uri), "/_matrix/federation/v1/send/%s", t->txn_id);
	mxdb_status st = body ? fed_request(s->client, t->destination, "PUT", uri, body, &status, &resp, &err)
	                      : mx_fail(&err, MXDB_ENOMEM, "transaction body");
	json_decref(body);
	if (st == MXDB_OK && status == 200) {
		json_decref(resp);
		set_waiting(s, t->destination, false);
		st = fed_queue_ack(db, t, &err);
		if (st != MXDB_OK)
			log_error("federation: acknowledging %s to %s: %s", t->txn_id, t->destination, err.message);
		log_debug("federation: sent %s to %s (%zu PDUs, %zu EDUs)", t->txn_id, t->destination,
		          json_array_size(t->pdus), json_array_size(t->edus));
		return st == MXDB_OK;
	}
	const char *why = st != MXDB_OK ? err.message : json_string_value(json_object_get(resp, "error"));
	long long retry_at = 0;
	set_waiting(s, t->destination, true);
	if (fed_queue_failed(db, t->destination, fed_now_ms(), &s->backoff, &retry_at, &err) != MXDB_OK)
		log_error("federation: back-off for %s: %s", t->destination, err.message);
	log_warn("federation: sending %s to %s failed (%ld %s); retry in %lld ms", t->txn_id,
	         t->destination, status, why ? why : "", retry_at - fed_now_ms());
	json_decref(resp);
	return 0;
}

/* Waits up to LINGER_MS for a kick after gen; true when one came. Keeps a
 * worker (and its connection) for the next write of a steady stream. */
#define LINGER_MS 200
static bool linger(fed_sender *s, uint64_t gen)
{
	long long until = fed_now_ms() + LINGER_MS;
	struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
	pthread_mutex_lock(&s->mu);
	while (s->gen == gen && !s->stopping && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
		;
	bool kicked = s->gen != gen && !s->stopping;
	pthread_mutex_unlock(&s->mu);
	return kicked;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	fed_sender *s = w->s;
	sqlite3 *db = NULL;
	mxdb_error err;
	if (fed_store_open(s->db_path, &db, &err) != MXDB_OK) {
		log_error("federation: worker for %s: %s", w->dest, err.message);
	} else {
		while (!stopping(s)) {
			fed_txn t;
			pthread_mutex_lock(&s->mu);
			uint64_t gen = s->gen;
			pthread_mutex_unlock(&s->mu);
			mxdb_status st = fed_queue_take(db, w->dest, &t, &err);
			if (st == MXDB_ENOTFOUND && linger(s, gen))
				continue; /* a kick came: look again without a new thread */
			if (st != MXDB_OK) {
				if (st != MXDB_ENOTFOUND)
					log_error("federation: queue for %s: %s", w->dest, err.message);
				break;
			}
			int ok = send_one(s, db, &t);
			fed_txn_free(&t);
			if (!ok)
				break;
		}
	}
	sqlite3_close(db);
	/* The coordinator looks again: something may have been queued after our
	 * last look. */
	pthread_mutex_lock(&s->mu);
	w->done = 1;
	s->kicked = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Joins finished workers; with all set, waits for every worker. Called
 * with s->mu held; drops it while joining. */
static void reap(fed_sender *s, int all)
{
	for (worker **pw = &s->workers; *pw;) {
		worker *w = *pw;
		if (!w->done && !all) {
			pw = &w->next;
			continue;
		}
		*pw = w->next;
		pthread_mutex_unlock(&s->mu);
		pthread_join(w->thread, NULL);
		free(w);
		pthread_mutex_lock(&s->mu);
		pw = &s->workers; /* the list may have changed while unlocked */
	}
}

static void start_worker(fed_sender *s, const char *dest)
{
	for (worker *w = s->workers; w; w = w->next)
		if (strcmp(w->dest, dest) == 0)
			return; /* already draining it */
	worker *w = calloc(1, sizeof(*w));
	if (w == NULL || strlen(dest) >= sizeof(w->dest)) {
		free(w);
		return;
	}
	w->s = s;
	strcpy(w->dest, dest);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		log_error("federation: no thread for %s", dest);
		free(w);
		return;
	}
	w->next = s->workers;
	s->workers = w;
}

static void *coordinator_main(void *arg)
{
	fed_sender *s = arg;
	mxdb_error err;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		s->kicked = 0;
		alive *a = s->alive;
		s->alive = NULL;
		reap(s, 0);
		pthread_mutex_unlock(&s->mu);

		for (alive *next; a; a = next) {
			next = a->next;
			if (fed_queue_wake(s->db, a->dest, &err) != MXDB_OK)
				log_error("federation: %s", err.message);
			free(a->dest);
			free(a);
		}
		char **due = NULL;
		size_t n = 0;
		long long next_ms = 0;
		if (fed_queue_due(s->db, fed_now_ms(), &due, &n, &next_ms, &err) != MXDB_OK) {
			log_error("federation: reading the queue: %s", err.message);
			next_ms = fed_now_ms() + 1000;
		}

		pthread_mutex_lock(&s->mu);
		for (size_t i = 0; i < n; i++)
			start_worker(s, due[i]);
		fed_queue_due_free(due, n);
		if (s->kicked || s->stopping)
			continue;
		/* Sleep until a kick or the earliest retry; look at least every
		 * 30 s in case another connection queued without kicking. */
		long long until = fed_now_ms() + 30000;
		if (next_ms && next_ms < until)
			until = next_ms;
		struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
		while (!s->kicked && !s->stopping &&
		       pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
			;
	}
	reap(s, 1);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static const char SQL_KNOWN_DESTS[] = "SELECT destination FROM fed_destinations";

/* On start: a signed GET /version to every server we ever sent to, so
 * that those which backed off from us while we were down retry now. */
static void *announce_main(void *arg)
{
	fed_sender *s = arg;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	if (fed_store_open(s->db_path, &db, NULL) != MXDB_OK ||
	    sqlite3_prepare_v2(db, SQL_KNOWN_DESTS, -1, &q, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	while (!stopping(s) && sqlite3_step(q) == SQLITE_ROW) {
		long status;
		fed_request(s->client, (const char *)sqlite3_column_text(q, 0), "GET",
		            "/_matrix/federation/v1/version", NULL, &status, NULL, NULL);
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return NULL;
}

mxdb_status fed_sender_start(const fed_sender_config *cfg, fed_sender **out, mxdb_error *err)
{
	*out = NULL;
	fed_sender *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return mx_fail(err, MXDB_ENOMEM, "sender");
	s->db_path = strdup(cfg->db_path);
	s->origin = strdup(cfg->origin);
	s->client = cfg->client;
	s->backoff = cfg->backoff;
	if (s->backoff.initial_ms <= 0)
		s->backoff.initial_ms = 250;
	if (s->backoff.cap_ms <= 0)
		s->backoff.cap_ms = 60000;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_cond_init(&s->cv, &ca); /* CLOCK_REALTIME, like fed_now_ms */
	pthread_condattr_destroy(&ca);
	mxdb_status st = s->db_path && s->origin ? fed_store_open(cfg->db_path, &s->db, err)
	                                         : mx_fail(err, MXDB_ENOMEM, "sender");
	if (st == MXDB_OK && pthread_create(&s->coordinator, NULL, coordinator_main, s) != 0)
		st = mx_fail(err, MXDB_EINTERNAL, "no thread for the federation sender");
	/* Destinations still backing off from before a restart: a sign of life
	 * from them must wake us too. */
	sqlite3_stmt *q = NULL;
	if (st == MXDB_OK &&
	    sqlite3_prepare_v2(s->db, "SELECT destination FROM fed_destinations WHERE retry_at > 0", -1, &q,
	                       NULL) == SQLITE_OK) {
		while (sqlite3_step(q) == SQLITE_ROW)
			set_waiting(s, (const char *)sqlite3_column_text(q, 0), true);
	}
	sqlite3_finalize(q);
	/* Best effort: without it peers still retry when their back-off ends. */
	if (st == MXDB_OK)
		s->announcing = pthread_create(&s->announcer, NULL, announce_main, s) == 0;
	if (st != MXDB_OK) {
		sqlite3_close(s->db);
		free(s->db_path);
		free(s->origin);
		free(s);
		return st;
	}
	*out = s;
	return MXDB_OK;
}

void fed_sender_stop(fed_sender *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->coordinator, NULL);
	if (s->announcing)
		pthread_join(s->announcer, NULL);
	alive *lists[] = {s->alive, s->waiting};
	for (int i = 0; i < 2; i++)
		for (alive *a = lists[i], *next; a; a = next) {
			next = a->next;
			free(a->dest);
			free(a);
		}
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->db_path);
	free(s->origin);
	free(s);
}
