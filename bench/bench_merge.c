/*
 * bench_merge.c: healing a fork on a big table, in-process (C API and the
 * federation ingest, no HTTP). Node a.bench holds a table of ROWS rows
 * (written by 4 threads, group commit); bob of b.bench joined it. Then a
 * partition: a.bench writes FORK rows, and b.bench's branch of FORK rows
 * (half of them the same keys, half other rows of the table) arrives as
 * signed PDUs in transactions of 50, each event taking the fork path (two
 * extremities, the event cites one). Prints the time to ingest that branch
 * and the events per second, then checks both sides' rows are there.
 * Sizes from the environment: BENCH_MERGE_ROWS (100000), BENCH_MERGE_FORK
 * (1000), BENCH_MERGE_EVENTS (how many of b's events to ingest: all).
 * synchronous=normal. Prints figures, never asserts timing.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../tests/unit/fed_nodes.h"

#define WRITERS 4
#define TXN 50

static fed_node A = {.name = "a.bench"}, B = {.name = "b.bench"};
static char room[256];
static long rows = 100000, fork_rows = 1000;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	return v && atol(v) > 0 ? atol(v) : def;
}

typedef struct job {
	int id;
} job;

static void *fill(void *arg)
{
	job *j = arg;
	for (long i = j->id; i < rows; i += WRITERS) {
		char key[32], content[64];
		snprintf(key, sizeof(key), "row-%ld", i);
		snprintf(content, sizeof(content), "{\"v\":%ld,\"pad\":\"0123456789abcdef\"}", i);
		mxdb_error err;
		if (mxdb_put(A.db, room, "@alice:a.bench", "com.example.row", key, content, NULL, NULL,
		             &err) != MXDB_OK) {
			fprintf(stderr, "put: %s\n", err.message);
			break;
		}
	}
	return NULL;
}

/* The template's prev_events, depth and auth events for a write by bob. */
static json_t *bob_template(void)
{
	json_t *tmpl = NULL;
	const char *rv_id;
	mxdb_error err;
	if (fed_room_make_membership(A.db, room, "@bob:b.bench", "join", &tmpl, &rv_id, &err) != MXDB_OK)
		fprintf(stderr, "template: %s\n", err.message);
	return tmpl;
}

static char *state_event_id(const char *type, const char *key)
{
	char *text = NULL, *id = NULL;
	if (mxdb_state_event(A.db, room, type, key, &text, NULL) == MXDB_OK) {
		json_t *j = json_loads(text, 0, NULL);
		const char *s = json_string_value(json_object_get(j, "event_id"));
		id = s ? strdup(s) : NULL;
		json_decref(j);
	}
	mxdb_free(text);
	return id;
}

int main(void)
{
	rows = env_long("BENCH_MERGE_ROWS", rows);
	fork_rows = env_long("BENCH_MERGE_FORK", fork_rows);
	long events = env_long("BENCH_MERGE_EVENTS", fork_rows);
	if (events > fork_rows)
		events = fork_rows;
	char base[] = "/tmp/mxdb-bench-merge-XXXXXX";
	mxdb_error err;
	if (mkdtemp(base) == NULL)
		return 1;
	fed_node_open(&A, base, 0);
	fed_nodes[1] = &B;
	if (A.db == NULL || key_generate(&B.key, &err) != MXDB_OK)
		return 1;

	char *rid = NULL;
	mxdb_table_options to = {.creator = "@alice:a.bench", .preset = MXDB_PRESET_PUBLIC_CHAT,
	                         .has_state_default = 1, .state_default = 0};
	if (mxdb_create_table(A.db, &to, &rid, &err) != MXDB_OK) {
		fprintf(stderr, "create: %s\n", err.message);
		return 1;
	}
	snprintf(room, sizeof(room), "%s", rid);
	mxdb_free(rid);

	/* bob of b.bench joins (make_join / send_join on a.bench). */
	json_t *tmpl = bob_template();
	const char *rv_id = NULL;
	mxdb_room_info info;
	mxdb_room_info_get(A.db, room, &info, NULL);
	rv_id = info.version;
	const mx_room_version *rv = rv_get(rv_id);
	json_object_del(tmpl, "origin");
	ev_t *join = NULL;
	if (rv == NULL || ev_hash_and_sign(tmpl, rv, &B.key, B.name, &err) != MXDB_OK ||
	    (join = fed_receive(rv, tmpl)) == NULL ||
	    fed_room_accept_membership(A.db, join, NULL, NULL, &err) != MXDB_OK) {
		fprintf(stderr, "join failed\n");
		return 1;
	}
	json_decref(tmpl);

	double t0 = now_s();
	pthread_t t[WRITERS];
	job j[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		j[i].id = i;
		pthread_create(&t[i], NULL, fill, &j[i]);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	printf("table: %ld rows written in %.1f s\n", rows, now_s() - t0);

	/* The fork point, as b.bench last saw the room. */
	tmpl = bob_template();
	char *pl = state_event_id("m.room.power_levels", ""),
	     *member = state_event_id("m.room.member", "@bob:b.bench"),
	     *create = state_event_id("m.room.create", "");
	json_t *prev = json_incref(json_object_get(tmpl, "prev_events"));
	json_int_t depth = json_integer_value(json_object_get(tmpl, "depth"));
	json_decref(tmpl);

	/* a.bench's side of the partition. */
	t0 = now_s();
	for (long i = 0; i < fork_rows; i++) {
		char key[32], content[64];
		snprintf(key, sizeof(key), "row-%ld", i);
		snprintf(content, sizeof(content), "{\"v\":\"a%ld\"}", i);
		mxdb_put(A.db, room, "@alice:a.bench", "com.example.row", key, content, NULL, NULL, NULL);
	}
	printf("partition: a.bench wrote %ld rows in %.2f s\n", fork_rows, now_s() - t0);

	/* b.bench's side: a chain of signed PDUs (built before the clock). */
	ev_t **evs = calloc((size_t)fork_rows + 1, sizeof(*evs));
	for (long i = 0; i < fork_rows; i++) {
		char key[32], content[64];
		snprintf(key, sizeof(key), "row-%ld", (i + fork_rows / 2) % rows);
		snprintf(content, sizeof(content), "{\"v\":\"b%ld\"}", i);
		json_t *auth = json_pack("[s, s]", pl, member);
		if (!rv->room_id_from_create)
			json_array_append_new(auth, json_string(create));
		json_t *pdu = json_pack("{s:o, s:O, s:I, s:o, s:I, s:s, s:s, s:s, s:s}", "auth_events", auth,
		                        "prev_events", prev, "depth", depth + i, "content",
		                        json_loads(content, 0, NULL), "origin_server_ts",
		                        (json_int_t)fed_now_ms(), "room_id", room, "sender", "@bob:b.bench",
		                        "type", "com.example.row", "state_key", key);
		if (ev_hash_and_sign(pdu, rv, &B.key, B.name, &err) != MXDB_OK ||
		    (evs[i] = fed_receive(rv, pdu)) == NULL) {
			fprintf(stderr, "event %ld refused\n", i);
			return 1;
		}
		json_decref(prev);
		prev = json_pack("[s]", evs[i]->event_id);
		json_decref(pdu);
	}
	json_decref(prev);

	/* The heal: b.bench's branch arrives, 50 PDUs per transaction. */
	fed_result res[TXN];
	long refused = 0;
	t0 = now_s();
	for (long i = 0; i < events; i += TXN) {
		size_t n = (size_t)(events - i < TXN ? events - i : TXN);
		if (fed_room_ingest(A.db, evs + i, n, res, &err) != MXDB_OK) {
			fprintf(stderr, "ingest: %s\n", err.message);
			return 1;
		}
		for (size_t k = 0; k < n; k++)
			refused += res[k].status != MXDB_OK;
	}
	double dt = now_s() - t0;
	printf("heal: %ld of b.bench's %ld events ingested on the fork path in %.2f s: %.0f events/s"
	       " (table %ld rows, %ld refused)\n",
	       events, fork_rows, dt, events / dt, rows, refused);

	/* Both sides' rows are there: b's last row (its own key) and a's. */
	char key[32], *content = NULL;
	snprintf(key, sizeof(key), "row-%ld", (events - 1 + fork_rows / 2) % rows);
	mxdb_get(A.db, room, "com.example.row", key, &content, NULL, NULL);
	printf("check: %s = %s\n", key, content ? content : "(none)");
	mxdb_free(content);
	for (long i = events; i < fork_rows; i++)
		ev_free(evs[i]);
	free(evs);
	free(pl);
	free(member);
	free(create);
	fed_node_close(&A);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : 1;
}
