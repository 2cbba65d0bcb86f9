/*
 * test_feed_db.c: the change feed of a real database (SQLite file in a
 * temporary directory, the engine's writer, a real nng PUB socket on
 * loopback) read by mxdb_watch with in-process catch-up:
 *  - a subscriber whose receive queue holds one message (nng drops most of
 *    the stream) still gets every change, once, in seq order;
 *  - subscribers opened while writers are running (the snapshot+feed race)
 *    get exactly the changes after their starting position;
 *  - a one-room subscriber sees that room's changes in room_seq order;
 *  - every record matches what mxdb_changes_since says (same event, content).
 */
#include "engine_util.h" /* first: it sets _XOPEN_SOURCE */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mxdb.h"
#include "testutil.h"

#define WRITERS 2
#define PER_WRITER 600
#define ALICE "@alice:localhost:8008"

static mxdb *db;
static uint64_t live_until;
static char room_a[256], room_b[256];

typedef struct writer {
	int id;
	int failures;
} writer;

static void *write_rows(void *arg)
{
	writer *w = arg;
	for (int i = 0; i < PER_WRITER; i++) {
		char key[32], content[64];
		snprintf(key, sizeof(key), "w%d-%d", w->id, i % 50);
		snprintf(content, sizeof(content), "{\"n\":%d,\"w\":%d}", i, w->id);
		const char *room = (i % 3 == 0) ? room_b : room_a;
		if (mxdb_put(db, room, ALICE, "com.example.row", key, content, NULL, NULL, NULL) != MXDB_OK)
			w->failures++;
	}
	return NULL;
}

typedef struct reader {
	mxdb_watch *w;
	const char *room;
	uint64_t start;
	int got, faults;
	uint64_t prev_seq, prev_room_seq;
} reader;

/* Reads until the watch reaches `until` (or a bounded time passes). */
static void drain(reader *rd, uint64_t until)
{
	for (int rounds = 0; rounds < 2000 && mxdb_watch_seq(rd->w) < until; rounds++) {
		const mxdb_change *c;
		mxdb_error err;
		if (mxdb_watch_next(rd->w, 10, &c, &err) != MXDB_OK) {
			fprintf(stderr, "watch: %s\n", err.message);
			rd->faults++;
			return;
		}
		if (c == NULL)
			continue;
		if (c->seq <= rd->prev_seq || (rd->room == NULL && c->seq != rd->prev_seq + 1))
			rd->faults++;
		if (rd->room != NULL) {
			if (strcmp(c->room, rd->room) != 0 ||
			    (rd->prev_room_seq != 0 && c->room_seq != rd->prev_room_seq + 1))
				rd->faults++;
			rd->prev_room_seq = c->room_seq;
		}
		rd->prev_seq = c->seq;
		rd->got++;
	}
}

static void *drain_live(void *arg)
{
	reader *rd = arg;
	/* while the writers run: read the first half of their changes live */
	drain(rd, live_until);
	return NULL;
}

typedef struct count_ctx {
	const char *room;
	int n;
	uint64_t last;
} count_ctx;

static int count_change(void *ctx, const mxdb_change *c)
{
	count_ctx *k = ctx;
	k->n++;
	k->last = c->seq;
	return 0;
}

static int count_since(uint64_t since, const char *room, uint64_t *last)
{
	count_ctx k = {room, 0, 0};
	CHECK(mxdb_changes_since(db, since, room, 0, count_change, &k, NULL) == MXDB_OK);
	if (last)
		*last = k.last;
	return k.n;
}

int main(void)
{
	char dir[] = "/tmp/mxdb-feed-XXXXXX", url[64];
	mxdb_error err;
	CHECK(mkdtemp(dir) != NULL);
	mxdb_options opt = {.synchronous = MXDB_SYNC_NORMAL};
	CHECK_MSG(mxdb_open(dir, &opt, &db, &err) == MXDB_OK, "%s", err.message);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	mxdb_feed *feed = NULL;
	for (int tries = 0; tries < 20 && feed == NULL; tries++) {
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", 20000 + rand() % 30000);
		mxdb_feed_open(db, url, &feed, &err);
	}
	CHECK_MSG(feed != NULL, "%s", err.message);
	char *id = NULL;
	mxdb_table_options t = {.creator = ALICE, .has_state_default = 1, .state_default = 0, .alias = "a"};
	CHECK_MSG(mxdb_create_table(db, &t, &id, &err) == MXDB_OK, "%s", err.message);
	snprintf(room_a, sizeof(room_a), "%s", id ? id : "");
	mxdb_free(id);
	t.alias = "b";
	CHECK_MSG(mxdb_create_table(db, &t, &id, &err) == MXDB_OK, "%s", err.message);
	snprintf(room_b, sizeof(room_b), "%s", id ? id : "");
	mxdb_free(id);
	uint64_t before = mxdb_last_seq(db);
	live_until = before + WRITERS * PER_WRITER / 2;

	/* the tiny-queue subscribers start before the writers; the "now"
	 * subscribers are opened while the writers run */
	reader all = {.room = NULL}, one = {.room = room_a}, late = {0}, late_one = {.room = room_b};
	mxdb_watch_options wo = {.feed_url = url, .since = 0, .db = db, .recv_buf = 1, .idle_check_ms = 50};
	CHECK(mxdb_watch_open(&wo, &all.w, &err) == MXDB_OK);
	wo.room = room_a;
	CHECK(mxdb_watch_open(&wo, &one.w, &err) == MXDB_OK);
	pthread_t th[WRITERS], rt[2];
	writer ws[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		ws[i] = (writer){i, 0};
		pthread_create(&th[i], NULL, write_rows, &ws[i]);
	}
	pthread_create(&rt[0], NULL, drain_live, &all);
	pthread_create(&rt[1], NULL, drain_live, &one);
	struct timespec pause = {0, 20 * 1000000};
	nanosleep(&pause, NULL);
	mxdb_watch_options lo = {.feed_url = url, .since = MXDB_WATCH_NOW, .db = db, .recv_buf = 1024};
	CHECK(mxdb_watch_open(&lo, &late.w, &err) == MXDB_OK);
	late.start = late.prev_seq = mxdb_watch_seq(late.w);
	lo.room = room_b;
	CHECK(mxdb_watch_open(&lo, &late_one.w, &err) == MXDB_OK);
	late_one.start = late_one.prev_seq = mxdb_watch_seq(late_one.w);
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		CHECK_MSG(ws[i].failures == 0, "writer %d: %d failed puts", i, ws[i].failures);
	}
	pthread_join(rt[0], NULL);
	pthread_join(rt[1], NULL);

	uint64_t last = mxdb_last_seq(db), last_a = 0, last_b = 0;
	CHECK(last >= before + WRITERS * PER_WRITER);
	count_since(0, room_a, &last_a);
	count_since(0, room_b, &last_b);
	drain(&all, last);
	drain(&one, last_a);
	drain(&late, last);
	drain(&late_one, last_b);
	CHECK_MSG(all.got == (int)last && all.faults == 0, "all rooms, tiny queue: %d of %llu, %d faults",
	          all.got, (unsigned long long)last, all.faults);
	CHECK_MSG(one.got == count_since(0, room_a, NULL) && one.faults == 0,
	          "one room, tiny queue: %d, %d faults", one.got, one.faults);
	CHECK_MSG(late.got == (int)(last - late.start) && late.faults == 0,
	          "opened during writes: %d of %llu, %d faults", late.got,
	          (unsigned long long)(last - late.start), late.faults);
	CHECK_MSG(late_one.got == count_since(late_one.start, room_b, NULL) && late_one.faults == 0,
	          "one room opened during writes: %d, %d faults", late_one.got, late_one.faults);
	CHECK(late.start > before); /* it really started in the middle of the writes */
	uint64_t gaps, catchups;
	mxdb_watch_stats(all.w, &gaps, &catchups);
	printf("tiny queue: %d changes, %llu gaps, %llu catch-ups\n", all.got, (unsigned long long)gaps,
	       (unsigned long long)catchups);

	/* the JSON form carries the record's keys */
	mxdb_put(db, room_a, ALICE, "com.example.row", "json", "{\"x\":[1,\"two\",null]}", NULL, NULL, NULL);
	const mxdb_change *c = NULL;
	for (int i = 0; i < 100 && c == NULL; i++)
		mxdb_watch_next(all.w, 20, &c, NULL);
	CHECK(c != NULL && c->seq == last + 1 && strcmp(c->key, "json") == 0);
	json_t *rec = c ? json_loads(mxdb_watch_json(all.w), 0, NULL) : NULL;
	CHECK(json_integer_value(json_object_get(rec, "seq")) == (json_int_t)last + 1);
	json_t *want = json_loads("{\"x\":[1,\"two\",null]}", 0, NULL);
	CHECK(json_equal(json_object_get(rec, "content"), want));
	json_decref(want);
	const char *cause = json_string_value(json_object_get(rec, "cause"));
	CHECK(cause != NULL && strcmp(cause, "local") == 0);
	json_decref(rec);

	mxdb_watch_close(all.w);
	mxdb_watch_close(one.w);
	mxdb_watch_close(late.w);
	mxdb_watch_close(late_one.w);
	mxdb_feed_close(feed);
	mxdb_close(db);
	CHECK(tmpdir_remove(dir) == 0);
	return test_summary("test_feed_db");
}
