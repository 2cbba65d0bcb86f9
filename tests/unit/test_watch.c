/*
 * test_watch.c: the reliable subscriber (db/watch.c) against a real nng PUB
 * socket on loopback and an in-memory log as its catch-up source. The
 * subscriber's receive queue is one message, so nng drops most of a burst;
 * it must still end with every change exactly once and in order, for all
 * rooms (gaps in seq) and for one room (gaps in room_seq), including a late
 * start and changes committed while it subscribes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cborjson.h"
#include "feed.h"
#include "testutil.h"
#include "watch.h"

#define N 3000
#define ROOMS 3

/* The authoritative log: what a catch-up reads. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *log_recs;
static uint64_t room_seq[ROOMS];

static const char *room_name(int i)
{
	static const char *names[ROOMS] = {"!a:x", "!a:xy", "!b:x"};
	return names[i];
}

static mxdb_status mem_since(void *src, uint64_t seq, const char *room, int limit, json_t **records,
                             watch_pos *pos, mxdb_error *err)
{
	/* src: a room this reader may not read, left out like the HTTP
	 * source does (limit counts what was looked at; next says how far) */
	const char *hidden = src;
	(void)err;
	json_t *out = json_array();
	pthread_mutex_lock(&log_mu);
	pos->head = json_array_size(log_recs);
	pos->next = hidden ? seq : 0;
	int looked = 0;
	for (size_t i = seq; i < json_array_size(log_recs) && looked < limit; i++) {
		json_t *r = json_array_get(log_recs, i);
		const char *rr = json_string_value(json_object_get(r, "room"));
		if (room != NULL && strcmp(room, rr) != 0)
			continue;
		looked++;
		if (hidden)
			pos->next = i + 1;
		if (hidden == NULL || strcmp(hidden, rr) != 0)
			json_array_append(out, r);
	}
	pthread_mutex_unlock(&log_mu);
	*records = out;
	return MXDB_OK;
}

static const watch_source_ops mem_ops = {mem_since, NULL};

/* Commits one change to the log and publishes it (after "commit"). */
static void commit(feed_pub *pub, int room)
{
	pthread_mutex_lock(&log_mu);
	uint64_t seq = json_array_size(log_recs) + 1;
	json_t *r = json_pack("{sI sI ss ss ss ss sn ss sI s{sI} ss}", "seq", (json_int_t)seq, "room_seq",
	                      (json_int_t)++room_seq[room], "room", room_name(room), "type", "t", "key", "k",
	                      "event", "$e", "prev", "sender", "@u:x", "ts", (json_int_t)1, "content", "n",
	                      (json_int_t)seq, "cause", "local");
	json_array_append(log_recs, r);
	unsigned char *cbor;
	size_t len;
	CHECK(cbj_encode(r, &cbor, &len, NULL) == MXDB_OK);
	/* published under the lock: in seq order, as the engine does */
	CHECK(feed_pub_send(pub, room_name(room), cbor, len, NULL) == MXDB_OK);
	pthread_mutex_unlock(&log_mu);
	free(cbor);
	json_decref(r);
}

typedef struct writer {
	feed_pub *pub;
	int count;
	int paced; /* sleep 1 ms every 100 changes (about 50k/s in bursts) */
} writer;

static void *write_burst(void *arg)
{
	writer *wr = arg;
	for (int i = 0; i < wr->count; i++) {
		commit(wr->pub, i % ROOMS);
		if (wr->paced && i % 100 == 0) {
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* One subscriber reading in its own thread while the writer runs. */
typedef struct reader {
	watch *w;
	const char *room;
	uint64_t after, want_last;
	int got, out_of_order, holes, wrong_room, errors;
} reader;

/* Reads until the watch has seen every change up to want_last (bounded in
 * time), counting order and uniqueness faults as it goes. */
static void *drain(void *arg)
{
	reader *rd = arg;
	uint64_t prev_seq = rd->after, prev_room_seq = 0;
	for (int rounds = 0; rounds < 3000 && watch_seq(rd->w) < __atomic_load_n(&rd->want_last, __ATOMIC_SEQ_CST); rounds++) {
		const json_t *r;
		if (watch_next(rd->w, 5, &r, NULL) != MXDB_OK) {
			rd->errors++;
			continue;
		}
		while (r != NULL) {
			uint64_t s = feed_rec_u64(r, "seq");
			rd->out_of_order += s <= prev_seq;
			if (rd->room == NULL) {
				rd->holes += s != prev_seq + 1;
			} else {
				uint64_t rs = feed_rec_u64(r, "room_seq");
				rd->wrong_room += strcmp(json_string_value(json_object_get(r, "room")), rd->room) != 0;
				rd->holes += prev_room_seq != 0 && rs != prev_room_seq + 1;
				prev_room_seq = rs;
			}
			prev_seq = s;
			rd->got++;
			if (watch_next(rd->w, 0, &r, NULL) != MXDB_OK)
				rd->errors++;
		}
	}
	return NULL;
}

static void check_reader(const char *what, const reader *rd, int want)
{
	CHECK_MSG(rd->got == want, "%s: got %d of %d", what, rd->got, want);
	CHECK_MSG(rd->out_of_order == 0 && rd->holes == 0 && rd->wrong_room == 0 && rd->errors == 0,
	          "%s: %d out of order, %d holes, %d from other rooms, %d errors", what, rd->out_of_order,
	          rd->holes, rd->wrong_room, rd->errors);
	watch_stats st = watch_get_stats(rd->w);
	printf("%s: delivered %llu, feed messages %llu, gaps %llu, catch-ups %llu\n", what,
	       (unsigned long long)st.delivered, (unsigned long long)st.received,
	       (unsigned long long)st.gaps, (unsigned long long)st.catchups);
}

static uint64_t last_of_room(const char *room)
{
	uint64_t last = 0;
	pthread_mutex_lock(&log_mu);
	for (size_t i = 0; i < json_array_size(log_recs); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(log_recs, i), "room")), room) == 0)
			last = i + 1;
	pthread_mutex_unlock(&log_mu);
	return last;
}

static int count_room(uint64_t after, const char *room)
{
	int n = 0;
	pthread_mutex_lock(&log_mu);
	for (size_t i = after; i < json_array_size(log_recs); i++)
		n += room == NULL || strcmp(room, json_string_value(json_object_get(json_array_get(log_recs, i),
		                                                                     "room"))) == 0;
	pthread_mutex_unlock(&log_mu);
	return n;
}

int main(void)
{
	char url[64];
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	log_recs = json_array();
	feed_pub *pub = NULL;
	mxdb_error err;
	for (int tries = 0; tries < 20 && pub == NULL; tries++) {
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", 20000 + rand() % 30000);
		feed_pub_open(&pub, url, &err);
	}
	CHECK_MSG(pub != NULL, "%s", err.message);
	if (pub == NULL)
		return test_summary("test_watch");

	/* some history before anyone subscribes: the late start */
	writer pre = {pub, 200, 0};
	write_burst(&pre);

	/* all rooms from seq 0 and one room, tiny queues; from now with a big
	 * queue; a paced burst racing the subscribe and the reading */
	watch_config cfg = {.feed_url = url, .since = 0, .recv_buf = 1, .idle_check_ms = 50};
	watch_config ocfg = {.feed_url = url, .room = "!a:x", .since = 0, .recv_buf = 1, .idle_check_ms = 50};
	watch_config ncfg = {.feed_url = url, .since = WATCH_NOW, .recv_buf = 8192, .idle_check_ms = 50};
	watch *all = NULL, *one = NULL, *now = NULL;
	pthread_t th, rth[3];
	writer wr = {pub, N, 1};
	pthread_create(&th, NULL, write_burst, &wr);
	CHECK(watch_open(&all, &cfg, NULL, &mem_ops, &err) == MXDB_OK);
	CHECK(watch_open(&one, &ocfg, NULL, &mem_ops, &err) == MXDB_OK);
	CHECK(watch_open(&now, &ncfg, NULL, &mem_ops, &err) == MXDB_OK);
	uint64_t total = 200 + N;
	reader rd[3] = {
		{.w = all, .want_last = total},
		{.w = one, .room = "!a:x"},
		{.w = now, .after = watch_seq(now), .want_last = total},
	};
	/* the last change of room "!a:x" is known once the writer is done */
	rd[1].want_last = UINT64_MAX;
	for (int i = 0; i < 3; i++)
		pthread_create(&rth[i], NULL, drain, &rd[i]);
	pthread_join(th, NULL);
	__atomic_store_n(&rd[1].want_last, last_of_room("!a:x"), __ATOMIC_SEQ_CST);
	for (int i = 0; i < 3; i++)
		pthread_join(rth[i], NULL);
	check_reader("all rooms", &rd[0], (int)total);
	check_reader("one room", &rd[1], count_room(0, "!a:x"));
	check_reader("from now", &rd[2], count_room(rd[2].after, NULL));

	/* the tail: a last change whose message is lost is found when the feed goes quiet */
	pthread_mutex_lock(&log_mu);
	json_t *r = json_pack("{sI sI ss ss ss ss sn ss sI sn ss}", "seq", (json_int_t)total + 1, "room_seq",
	                      (json_int_t)++room_seq[2], "room", room_name(2), "type", "t", "key", "k", "event",
	                      "$e", "prev", "sender", "@u:x", "ts", (json_int_t)1, "content", "cause", "local");
	json_array_append_new(log_recs, r); /* committed, never published */
	pthread_mutex_unlock(&log_mu);
	reader tail = {.w = all, .after = total, .want_last = total + 1};
	drain(&tail);
	CHECK_MSG(tail.got == 1 && tail.holes == 0 && tail.out_of_order == 0, "tail: got %d of 1", tail.got);

	/* a source that leaves a room out (as HTTP does for tables the reader
	 * may not read): its records are not gaps to read again and again */
	watch_config pcfg = {.feed_url = NULL, .since = 0, .idle_check_ms = 20};
	watch *hid = NULL;
	CHECK(watch_open(&hid, &pcfg, (void *)room_name(2), &mem_ops, &err) == MXDB_OK);
	int seen = 0, hidden_seen = 0;
	for (int rounds = 0; rounds < 20000 && watch_seq(hid) < total + 1; rounds++) {
		const json_t *rec;
		CHECK(watch_next(hid, 5, &rec, NULL) == MXDB_OK);
		if (rec != NULL) {
			seen++;
			hidden_seen += strcmp(json_string_value(json_object_get(rec, "room")), room_name(2)) == 0;
		}
	}
	CHECK_MSG(seen == (int)(total + 1) - count_room(0, room_name(2)) && hidden_seen == 0,
	          "filtered source: %d records, %d hidden ones", seen, hidden_seen);
	CHECK_MSG(watch_seq(hid) == total + 1, "filtered source: position %llu, not past the hidden tail",
	          (unsigned long long)watch_seq(hid));
	watch_stats hs = watch_get_stats(hid);
	CHECK_MSG(hs.catchups <= (total + 1) / 1000 + 3, "filtered source: %llu catch-ups",
	          (unsigned long long)hs.catchups);
	watch_close(hid);

	watch_close(all);
	watch_close(one);
	watch_close(now);
	feed_pub_close(pub);
	json_decref(log_recs);
	return test_summary("test_watch");
}
