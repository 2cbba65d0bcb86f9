/*
 * cs_wake.c: wakes parked /sync requests when something they wait for
 * commits. The engine's commit callback only records the new stream
 * position (it runs on the writer thread and must stay short); a thread of
 * ours then reads which rooms the new events touched and which users their
 * member events name, and resumes only the parked syncs of those rooms and
 * users. Owns that thread; knows nothing of what a sync answers.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "cs_handlers.h"
#include "map.h"

#define WAKE_READ_CAP 1000 /* past this many new events, wake every sync */

struct cs_wake {
	cs_ctx *c;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t pending, done; /* committed position, position handled */
	bool stop;
};

static void changes_free(cs_changes *ch)
{
	map_free(ch->rooms, NULL);
	map_free(ch->users, NULL);
}

/* Wakes the syncs that may care about the events in (from, to]. */
static void wake_range(cs_ctx *c, uint64_t from)
{
	if (!http_has_parked(c->http)) {
		/* Nobody waits; still tell requests about to park to look again. */
		http_wake(c->http);
		return;
	}
	mxdb_events evs = {0};
	/* No event at all: positions taken by invites received over federation
	 * (rare): every sync looks. */
	if (mxdb_events_since(c->db, from, NULL, 0, NULL, WAKE_READ_CAP, &evs, NULL) != MXDB_OK ||
	    evs.n >= WAKE_READ_CAP || evs.n == 0) {
		mxdb_events_free(&evs);
		http_wake(c->http);
		return;
	}
	cs_changes ch = {.rooms = map_new(evs.n), .users = map_new(4)};
	for (size_t i = 0; i < evs.n && ch.rooms != NULL && ch.users != NULL; i++) {
		const mxdb_event *e = &evs.ev[i];
		map_put(ch.rooms, e->room_id, strlen(e->room_id), NULL, NULL);
		if (e->state_key != NULL && strcmp(e->type, "m.room.member") == 0)
			map_put(ch.users, e->state_key, strlen(e->state_key), NULL, NULL);
	}
	if (ch.rooms != NULL && ch.users != NULL)
		http_wake_match(c->http, cs_sync, cs_sync_match, &ch);
	else
		http_wake(c->http);
	changes_free(&ch);
	mxdb_events_free(&evs);
}

static void *wake_main(void *arg)
{
	cs_wake *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stop && w->pending == w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		uint64_t from = w->done, to = w->pending;
		pthread_mutex_unlock(&w->mu);
		wake_range(w->c, from);
		pthread_mutex_lock(&w->mu);
		w->done = to;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

cs_wake *cs_wake_start(cs_ctx *c)
{
	cs_wake *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->c = c;
	w->pending = w->done = mxdb_stream_pos(c->db);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, wake_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w);
		return NULL;
	}
	return w;
}

void cs_wake_stop(cs_wake *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

void cs_wake_commit(cs_wake *w, uint64_t pos)
{
	pthread_mutex_lock(&w->mu);
	if (pos > w->pending)
		w->pending = pos;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void cs_wake_room(cs_ctx *c, const char *room)
{
	cs_changes ch = {.rooms = map_new(1), .users = map_new(1)};
	if (ch.rooms != NULL && ch.users != NULL &&
	    map_put(ch.rooms, room, strlen(room), NULL, NULL) == 0)
		http_wake_match(c->http, cs_sync, cs_sync_match, &ch);
	else
		http_wake(c->http);
	changes_free(&ch);
}
