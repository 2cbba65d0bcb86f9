/*
 * bench_engine.c: the embedded database's figures (prints, never asserts):
 *  - durable row writes/s with 1 and 8 writer threads (synchronous=FULL,
 *    group commit), p50/p99 latency with one writer;
 *  - point reads/s (one reader thread per core), scan rate;
 *  - resident memory, file size, and state storage against the raw row size
 *    with N rows in one table, for N = 100,000 and 1,000,000.
 *
 *     bench_engine [ROWS...]     (default: 100000 1000000)
 * Bounded: every loop runs a fixed count or a fixed time.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mxdb.h"

#define ME "@bench:localhost:8008"
#define TYPE "com.example.row"
#define VALUE "{\"title\":\"buy milk and bread\",\"done\":false,\"prio\":3,\"tags\":[\"home\",\"shop\"]}"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const mxdb_error *err)
{
	fprintf(stderr, "bench_engine: %s: %s\n", what, err->message);
	exit(1);
}

typedef struct job {
	mxdb *db;
	const char *room;
	long first, count;
	double *lat; /* per write, or NULL */
	long reads;
	double until;
	unsigned seed;
	long nkeys;
} job;

static void *writer(void *p)
{
	job *j = p;
	char key[32];
	mxdb_error err;
	for (long i = 0; i < j->count; i++) {
		snprintf(key, sizeof(key), "row%09ld", j->first + i);
		double t0 = j->lat ? now_s() : 0;
		if (mxdb_put(j->db, j->room, ME, TYPE, key, VALUE, NULL, NULL, &err) != MXDB_OK)
			die("put", &err);
		if (j->lat)
			j->lat[i] = now_s() - t0;
	}
	return NULL;
}

static double write_rows(mxdb *db, const char *room, long first, long total, int threads,
                         double *lat)
{
	pthread_t t[16];
	job j[16];
	double t0 = now_s();
	for (int i = 0; i < threads; i++) {
		j[i] = (job){.db = db, .room = room, .first = first + total / threads * i,
		             .count = total / threads, .lat = lat};
		pthread_create(&t[i], NULL, writer, &j[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return (double)(total / threads * threads) / (now_s() - t0);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void *reader(void *p)
{
	job *j = p;
	char key[32];
	mxdb_error err;
	while (now_s() < j->until) {
		for (int k = 0; k < 256; k++) {
			snprintf(key, sizeof(key), "row%09ld", (long)(rand_r(&j->seed) % j->nkeys));
			char *v = NULL;
			if (mxdb_get(j->db, j->room, TYPE, key, &v, NULL, &err) != MXDB_OK)
				die("get", &err);
			mxdb_free(v);
			j->reads++;
		}
	}
	return NULL;
}

static double read_rate(mxdb *db, const char *room, long nkeys, int threads, double secs)
{
	pthread_t t[16];
	job j[16];
	double until = now_s() + secs, t0 = now_s();
	for (int i = 0; i < threads; i++) {
		j[i] = (job){.db = db, .room = room, .until = until, .seed = 7u + (unsigned)i, .nkeys = nkeys};
		pthread_create(&t[i], NULL, reader, &j[i]);
	}
	long total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += j[i].reads;
	}
	return (double)total / (now_s() - t0);
}

static double scan_rate(mxdb *db, const char *room, long *rows_out)
{
	mxdb_rows rows;
	mxdb_error err;
	char *from = NULL;
	long n = 0;
	double t0 = now_s();
	do {
		if (mxdb_scan(db, room, TYPE, "row", 1000, from, &rows, &err) != MXDB_OK)
			die("scan", &err);
		free(from);
		from = rows.next ? strdup(rows.next) : NULL;
		n += (long)rows.n;
		mxdb_rows_free(&rows);
	} while (from != NULL);
	*rows_out = n;
	return (double)n / (now_s() - t0);
}

/* Resident memory of one kind, from /proc/self/status ("VmRSS:", "RssAnon:"
 * the heap, "RssFile:" the database file mapped by each connection: the
 * same page-cache pages counted once per connection) or smaps_rollup
 * ("Pss:" counts each page once: heap plus the file pages in use). */
static long rss_kb(const char *field)
{
	FILE *f = fopen(strcmp(field, "Pss:") == 0 ? "/proc/self/smaps_rollup" : "/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = atol(line + strlen(field));
	if (f)
		fclose(f);
	return kb;
}

/* Sizes from SQLite's dbstat: the state tables vs the raw rows. */
static void storage(const char *path)
{
	sqlite3 *s;
	sqlite3_stmt *st;
	if (sqlite3_open_v2(path, &s, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return;
	double file = 0, state = 0, events = 0, raw = 0;
	const char *q = "SELECT name, sum(pgsize) FROM dbstat GROUP BY name";
	if (sqlite3_prepare_v2(s, q, -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(st, 0);
			double sz = sqlite3_column_double(st, 1);
			file += sz;
			if (strstr(name, "cur_state") || strstr(name, "state_groups") || strstr(name, "state_deltas"))
				state += sz;
			if (strncmp(name, "events", 6) == 0 || strstr(name, "_events_"))
				events += sz;
		}
		sqlite3_finalize(st);
	}
	q = "SELECT sum(length(c.type) + length(c.state_key) + length(e.content)) FROM cur_state c"
	    " JOIN events e ON e.pos = c.pos";
	if (sqlite3_prepare_v2(s, q, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			raw = sqlite3_column_double(st, 0);
		sqlite3_finalize(st);
	}
	printf("  pages in use %.1f MB: state tables %.1f MB (%.2fx the raw rows, %.1f MB),"
	       " event log %.1f MB\n",
	       file / 1e6, state / 1e6, raw > 0 ? state / raw : 0, raw / 1e6, events / 1e6);
	sqlite3_close(s);
}

static long file_size(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n = -1;
	if (f && fseek(f, 0, SEEK_END) == 0)
		n = ftell(f);
	if (f)
		fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	long sizes[8] = {100000, 1000000};
	int nsizes = 2;
	if (argc > 1) {
		nsizes = 0;
		for (int i = 1; i < argc && nsizes < 8; i++)
			sizes[nsizes++] = atol(argv[i]);
	}
	char dir[] = "/tmp/mxdb-bench-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 1;
	mxdb *db;
	mxdb_error err;
	mxdb_options opt = {.synchronous = MXDB_SYNC_FULL};
	if (mxdb_open(dir, &opt, &db, &err) != MXDB_OK)
		die("open", &err);
	mxdb_table_options t = {.creator = ME, .name = "bench"};
	char *room;
	if (mxdb_create_table(db, &t, &room, &err) != MXDB_OK)
		die("create", &err);
	printf("bench_engine: %s, synchronous=FULL, row value %zu bytes\n", dir, strlen(VALUE));

	/* Latency and throughput on a small table first. */
	long n1 = 2000;
	double *lat = malloc(sizeof(double) * (size_t)n1);
	double w1 = write_rows(db, room, 0, n1, 1, lat);
	qsort(lat, (size_t)n1, sizeof(double), cmp_d);
	printf("1 writer:  %.0f durable writes/s, latency p50 %.3f ms, p99 %.3f ms\n", w1,
	       lat[n1 / 2] * 1e3, lat[n1 * 99 / 100] * 1e3);
	free(lat);
	double w8 = write_rows(db, room, n1, 40000, 8, NULL);
	printf("8 writers: %.0f durable writes/s (group commit)\n", w8);

	long have = n1 + 40000;
	for (int s = 0; s < nsizes; s++) {
		if (sizes[s] > have) {
			double t0 = now_s();
			double r = write_rows(db, room, have, sizes[s] - have, 8, NULL);
			printf("loaded %ld rows with 8 writers in %.1f s (%.0f writes/s)\n", sizes[s] - have,
			       now_s() - t0, r);
			have = sizes[s] - have > 0 ? have + (sizes[s] - have) / 8 * 8 : have;
		}
		printf("== %ld rows in one table\n", have);
		printf("  point reads: %.0f /s (2 threads), %.0f /s (1 thread)\n",
		       read_rate(db, room, have, 2, 2.0), read_rate(db, room, have, 1, 1.0));
		long scanned;
		double sr = scan_rate(db, room, &scanned);
		printf("  scan: %.0f rows/s (%ld rows, pages of 1000)\n", sr, scanned);
		char wal[4096];
		snprintf(wal, sizeof(wal), "%s-wal", mxdb_sqlite_path(db));
		printf("  memory: heap %.1f MB; proportional set (heap + file pages once) %.1f MB;"
		       " VmRSS %.1f MB (counts the file once per mapping connection)\n",
		       rss_kb("RssAnon:") / 1024.0, rss_kb("Pss:") / 1024.0, rss_kb("VmRSS:") / 1024.0);
		printf("  file %.1f MB (+ WAL %.1f MB)\n", file_size(mxdb_sqlite_path(db)) / 1e6,
		       file_size(wal) / 1e6);
		storage(mxdb_sqlite_path(db));
	}
	mxdb_free(room);
	mxdb_close(db);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
