/*
 * bench_feed.c: the change feed and the row-write path, measured.
 *  1. commit-to-subscriber latency (p50/p99) at 1,000 and 10,000 changes/s
 *     with one mxdb_watch subscriber on the nng feed: from the engine's
 *     post-commit callback (the moment the change is committed) to the
 *     subscriber having the decoded change in hand;
 *  2. fan-out to 100 subscribers at 200 and 1,000 changes/s: latency, gaps seen and
 *     whether every subscriber ends with every change (after catch-up);
 *  3. sustained row writes/s through HTTP PUT with 16 clients (keep-alive
 *     libcurl handles) against a real mxdbd started from the build directory.
 * A real database in a temporary directory (synchronous=NORMAL for 1-2, the
 * daemon's default FULL for 3). Every loop is bounded; prints, never asserts.
 */
#include <curl/curl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mxdb.h"

#define ALICE "@alice:localhost:8008"
#define MAX_CHANGES 40000
#define FANOUT 100
#define HTTP_CLIENTS 16
#define HTTP_SECONDS 3.0
#define HTTP_THREADS "16" /* a handler waits for its group commit: one thread per client */

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void sleep_until(double t_us)
{
	double d = t_us - now_us();
	if (d > 0) {
		struct timespec ts = {(time_t)(d / 1e6), (long)((d - (time_t)(d / 1e6) * 1e6) * 1e3)};
		nanosleep(&ts, NULL);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

/* ---- the database, its feed, commit times ---- */

static mxdb *db;
static char feed_url[64], room[256];
static double *commit_at; /* by seq: when the post-commit callback saw it */
static uint64_t seq_base;

static int on_change(void *ctx, const mxdb_change *c)
{
	(void)ctx;
	uint64_t i = c->seq - seq_base;
	if (c->seq > seq_base && i < MAX_CHANGES)
		commit_at[i] = now_us();
	return 0;
}

typedef struct writer {
	double rate; /* changes/s for this writer */
	int count, id, failed;
	double start;
} writer;

/* Open loop: change i is due at start + i / rate, whatever happened before. */
static void *write_paced(void *arg)
{
	writer *w = arg;
	char key[32], val[64];
	for (int i = 0; i < w->count; i++) {
		sleep_until(w->start + i * 1e6 / w->rate);
		snprintf(key, sizeof(key), "w%d-%d", w->id, i % 200);
		snprintf(val, sizeof(val), "{\"i\":%d,\"w\":%d}", i, w->id);
		if (mxdb_put(db, room, ALICE, "com.example.bench", key, val, NULL, NULL, NULL) != MXDB_OK)
			w->failed++;
	}
	return NULL;
}

typedef struct sub {
	mxdb_watch *w;
	uint64_t until;     /* read up to this seq */
	double *lat;        /* latencies in us */
	size_t nlat;
	int got, disorder;
	uint64_t gaps, catchups;
	int stop_after_ms;
} sub;

static void *read_sub(void *arg)
{
	sub *s = arg;
	uint64_t prev = 0;
	double deadline = now_us() + s->stop_after_ms * 1e3;
	while (mxdb_watch_seq(s->w) < s->until && now_us() < deadline) {
		const mxdb_change *c;
		if (mxdb_watch_next(s->w, 50, &c, NULL) != MXDB_OK)
			break;
		if (c == NULL)
			continue;
		double t = now_us();
		s->disorder += c->seq <= prev;
		prev = c->seq;
		s->got++;
		uint64_t i = c->seq - seq_base;
		if (c->seq > seq_base && i < MAX_CHANGES && commit_at[i] > 0 && s->nlat < MAX_CHANGES)
			s->lat[s->nlat++] = t - commit_at[i];
	}
	mxdb_watch_stats(s->w, &s->gaps, &s->catchups);
	return NULL;
}

/* Writes `total` changes at `rate`/s (4 writer threads) while `nsub`
 * subscribers read; prints latency and completeness. */
static void run_feed(const char *label, double rate, int total, int nsub)
{
	seq_base = mxdb_last_seq(db);
	memset(commit_at, 0, MAX_CHANGES * sizeof(*commit_at));
	sub *subs = calloc((size_t)nsub, sizeof(*subs));
	pthread_t *st = calloc((size_t)nsub, sizeof(*st));
	for (int i = 0; i < nsub; i++) {
		mxdb_watch_options o = {.feed_url = feed_url, .since = seq_base, .db = db, .recv_buf = 8192};
		mxdb_error err;
		if (mxdb_watch_open(&o, &subs[i].w, &err) != MXDB_OK) {
			printf("%s: watch: %s\n", label, err.message);
			return;
		}
		subs[i].until = seq_base + (uint64_t)total;
		subs[i].lat = malloc(MAX_CHANGES * sizeof(double));
		subs[i].stop_after_ms = (int)(total / rate * 1000) + 30000;
	}
	for (int i = 0; i < nsub; i++)
		pthread_create(&st[i], NULL, read_sub, &subs[i]);
	enum { NW = 8 }; /* a put waits for its group commit: several writers share one */
	writer ws[NW];
	pthread_t wt[NW];
	double start = now_us() + 20000;
	for (int i = 0; i < NW; i++) {
		ws[i] = (writer){rate / NW, total / NW + (i < total % NW), i, 0, start + i * 1e6 / rate};
		pthread_create(&wt[i], NULL, write_paced, &ws[i]);
	}
	int failed = 0;
	for (int i = 0; i < NW; i++) {
		pthread_join(wt[i], NULL);
		failed += ws[i].failed;
	}
	double took = (now_us() - start) / 1e6;
	for (int i = 0; i < nsub; i++)
		pthread_join(st[i], NULL);
	size_t nall = 0;
	int complete = 0, disorder = 0;
	uint64_t gaps = 0, catchups = 0;
	double *all = malloc((size_t)nsub * MAX_CHANGES * sizeof(double));
	for (int i = 0; i < nsub; i++) {
		memcpy(all + nall, subs[i].lat, subs[i].nlat * sizeof(double));
		nall += subs[i].nlat;
		complete += subs[i].got == total - failed;
		disorder += subs[i].disorder;
		gaps += subs[i].gaps;
		catchups += subs[i].catchups;
		mxdb_watch_close(subs[i].w);
		free(subs[i].lat);
	}
	double p50 = pct(all, nall, 0.50), p99 = pct(all, nall, 0.99), mx = nall ? all[nall - 1] : 0;
	printf("%-34s %6d changes at %6.0f/s (achieved %6.0f/s), %3d subscriber(s): "
	       "latency p50 %7.1f us  p99 %7.1f us  max %8.1f us; complete %d/%d, out of order %d, "
	       "gaps %llu, catch-ups %llu, failed writes %d\n",
	       label, total, rate, (total - failed) / took, nsub, p50, p99, mx, complete, nsub, disorder,
	       (unsigned long long)gaps, (unsigned long long)catchups, failed);
	free(all);
	free(subs);
	free(st);
}

/* ---- HTTP PUT throughput against a real mxdbd ---- */

typedef struct http_client {
	const char *base, *token, *room;
	int id, ok, bad;
	double until;
} http_client;

static size_t sink(char *p, size_t s, size_t n, void *u)
{
	(void)p;
	(void)u;
	return s * n;
}

static void *http_writer(void *arg)
{
	http_client *h = arg;
	CURL *c = curl_easy_init();
	char auth[1200], url[1024], body[64];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h->token);
	struct curl_slist *hd = curl_slist_append(NULL, auth);
	hd = curl_slist_append(hd, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	for (int i = 0; now_us() < h->until && i < 1000000; i++) {
		snprintf(url, sizeof(url), "%s/_mxdb/v1/tables/%s/rows/com.example.bench/c%d-%d", h->base, h->room, h->id,
		         i % 500);
		snprintf(body, sizeof(body), "{\"i\":%d}", i);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		long status = 0;
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (status == 200)
			h->ok++;
		else
			h->bad++;
	}
	curl_slist_free_all(hd);
	curl_easy_cleanup(c);
	return NULL;
}

typedef struct buf {
	char data[8192];
	size_t len;
} buf;

static size_t collect(char *p, size_t s, size_t n, void *u)
{
	buf *b = u;
	size_t k = s * n;
	if (b->len + k < sizeof(b->data)) {
		memcpy(b->data + b->len, p, k);
		b->len += k;
		b->data[b->len] = '\0';
	}
	return k;
}

/* POSTs a JSON body; copies the value of "key" from the answer into out. */
static int post(const char *url, const char *token, const char *body, const char *key, char *out, size_t cap)
{
	CURL *c = curl_easy_init();
	buf b = {.len = 0};
	char auth[1200];
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hd = curl_slist_append(hd, auth);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(hd);
	curl_easy_cleanup(c);
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = rc == CURLE_OK ? strstr(b.data, pat) : NULL;
	if (p == NULL)
		return -1;
	p += strlen(pat);
	size_t n = strcspn(p, "\"");
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
	return 0;
}

static void run_http(const char *self, const char *sync)
{
	char exe[4096], dir[] = "/tmp/mxdb-bench-http-XXXXXX", bin[4200], listen[64], base[64], feed[64];
	snprintf(exe, sizeof(exe), "%s", self);
	snprintf(bin, sizeof(bin), "%s/mxdbd", dirname(exe));
	if (access(bin, X_OK) != 0 || mkdtemp(dir) == NULL) {
		printf("http: no mxdbd beside the benchmark (%s): skipped\n", bin);
		return;
	}
	srand((unsigned)getpid() ^ (unsigned)now_us());
	int port = 20000 + rand() % 30000;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	snprintf(feed, sizeof(feed), "tcp://127.0.0.1:%d", port + 1);
	char data[200];
	snprintf(data, sizeof(data), "%s/data", dir);
	fflush(stdout); /* the child must not flush our buffer a second time */
	pid_t pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stdout);
		execl(bin, bin, "--listen", listen, "--data", data, "--feed", feed, "--password-hash", "fast",
		      "--log-level", "error", "--http-threads", HTTP_THREADS, "--synchronous", sync, (char *)NULL);
		_exit(127);
	}
	char token[1024] = "", room_id[256] = "", url[256];
	snprintf(url, sizeof(url), "%s/_matrix/client/v3/register", base);
	for (int i = 0; i < 100 && post(url, NULL,
	                                 "{\"username\":\"bench\",\"password\":\"benchpw\",\"auth\":{\"type\":\"m.login.dummy\"}}",
	                                 "access_token", token, sizeof(token)) != 0;
	     i++)
		usleep(50000);
	snprintf(url, sizeof(url), "%s/_mxdb/v1/tables", base);
	if (!*token || post(url, token, "{\"name\":\"bench\"}", "room_id", room_id, sizeof(room_id)) != 0) {
		printf("http: could not set up the server: skipped\n");
	} else {
		char *eroom = curl_easy_escape(NULL, room_id, 0);
		http_client hc[HTTP_CLIENTS];
		pthread_t th[HTTP_CLIENTS];
		double start = now_us();
		for (int i = 0; i < HTTP_CLIENTS; i++) {
			hc[i] = (http_client){base, token, eroom, i, 0, 0, start + HTTP_SECONDS * 1e6};
			pthread_create(&th[i], NULL, http_writer, &hc[i]);
		}
		int ok = 0, bad = 0;
		for (int i = 0; i < HTTP_CLIENTS; i++) {
			pthread_join(th[i], NULL);
			ok += hc[i].ok;
			bad += hc[i].bad;
		}
		double took = (now_us() - start) / 1e6;
		printf("%-34s %d clients, %.1f s: %d rows written, %.0f rows/s (%d failed); synchronous=%s, %s HTTP threads\n",
		       "HTTP PUT (keep-alive)", HTTP_CLIENTS, took, ok, ok / took, bad, sync, HTTP_THREADS);
		curl_free(eroom);
	}
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
	/* "feed" or "http" runs one part only */
	const char *only = argc > 1 ? argv[1] : "";
	if (strcmp(only, "http") == 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		run_http(argv[0], "full");
		run_http(argv[0], "normal");
		curl_global_cleanup();
		return 0;
	}
	char dir[] = "/tmp/mxdb-bench-feed-XXXXXX";
	mxdb_error err;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	commit_at = calloc(MAX_CHANGES, sizeof(*commit_at));
	mxdb_options opt = {.synchronous = MXDB_SYNC_NORMAL};
	if (mkdtemp(dir) == NULL || mxdb_open(dir, &opt, &db, &err) != MXDB_OK) {
		printf("bench_feed: cannot open a database: %s\n", err.message);
		return 1;
	}
	/* registered before the publisher's: it runs first, at the commit */
	mxdb_on_change(db, on_change, NULL);
	mxdb_feed *feed = NULL;
	srand((unsigned)getpid());
	for (int tries = 0; tries < 20 && feed == NULL; tries++) {
		snprintf(feed_url, sizeof(feed_url), "tcp://127.0.0.1:%d", 20000 + rand() % 30000);
		mxdb_feed_open(db, feed_url, &feed, &err);
	}
	char *id = NULL;
	mxdb_table_options t = {.creator = ALICE, .has_state_default = 1, .state_default = 0};
	if (feed == NULL || mxdb_create_table(db, &t, &id, &err) != MXDB_OK) {
		printf("bench_feed: setup failed: %s\n", err.message);
		return 1;
	}
	snprintf(room, sizeof(room), "%s", id);
	mxdb_free(id);

	printf("bench_feed: nng feed %s, database %s (synchronous=NORMAL), commit -> subscriber\n", feed_url, dir);
	run_feed("1 subscriber, 1,000/s", 1000, 3000, 1);
	run_feed("1 subscriber, 10,000/s", 10000, 20000, 1);
	run_feed("100 subscribers, 200/s", 200, 1000, FANOUT);
	run_feed("100 subscribers, 1,000/s", 1000, 3000, FANOUT);
	mxdb_feed_close(feed);
	mxdb_close(db);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
	if (strcmp(only, "feed") != 0) {
		run_http(argv[0], "full"); /* the daemon's default: every write survives power loss */
		run_http(argv[0], "normal");
	}
	free(commit_at);
	curl_global_cleanup();
	return 0;
}
