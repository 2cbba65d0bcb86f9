/*
 * bench_fed.c: replication between real mxdbd processes on loopback
 * (started from the build directory, peers by --peer, plain HTTP):
 *  1. lag p50/p99 from a row PUT on A (clock read just before the request)
 *     to its change record arriving on B's nng feed (mxdb_watch), at a paced
 *     1,000 writes/s from 4 clients for LAG_SECONDS;
 *  2. catch-up: B is stopped, A takes CATCHUP_ROWS rows, B restarts; time
 *     from B's restart until B's feed has them all (a restarted server
 *     announces itself, so A's back-off ends at once);
 *  3. join: C joins the table (then about CATCHUP_ROWS rows): time of the
 *     client's POST /join, and C's row count after.
 * Sizes come from the environment (BENCH_FED_ROWS, BENCH_FED_LAG_SECONDS)
 * for quick runs. synchronous=normal on all nodes. Prints, never asserts;
 * every wait is bounded.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mxdb.h"

#define WRITERS 4
#define RATE 1000.0
#define MAX_LAG_SAMPLES 200000
#define TYPE "com.example.bench"

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- HTTP ---- */

/* One request on handle h (NULL: a fresh one); *out the JSON answer. */
static long http(CURL *h, const char *method, const char *url, const char *token, const char *body,
                 json_t **out)
{
	CURL *own = h ? NULL : (h = curl_easy_init());
	mx_buf b = {0};
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	char auth[1100];
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hd = curl_slist_append(hd, auth);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mx_buf_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
	long status = 0;
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	if (out)
		*out = b.data ? json_loads(b.data, 0, NULL) : NULL;
	mx_buf_free(&b);
	curl_slist_free_all(hd);
	if (own)
		curl_easy_cleanup(own);
	return status;
}

/* ---- the nodes ---- */

typedef struct node {
	const char *name;
	int port;
	char base[64], data[300], feed[320], token[1024];
	pid_t pid;
} node;

static char mxdbd_bin[4200], workdir[] = "/tmp/mxdb-bench-fed-XXXXXX";
static node nodes[3] = {{.name = "a.bench"}, {.name = "b.bench"}, {.name = "c.bench"}};

static int start(node *n)
{
	char listen[64], peers[2][128];
	int k = 0;
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", n->port);
	for (int i = 0; i < 3; i++)
		if (&nodes[i] != n)
			snprintf(peers[k++], sizeof(peers[0]), "%s=127.0.0.1:%d", nodes[i].name, nodes[i].port);
	fflush(stdout);
	n->pid = fork();
	if (n->pid == 0) {
		freopen("/dev/null", "w", stdout);
		execl(mxdbd_bin, mxdbd_bin, "--listen", listen, "--server-name", n->name, "--data", n->data,
		      "--feed", n->feed, "--password-hash", "fast", "--log-level", "error", "--synchronous",
		      "normal", "--federation-plain-http", "--peer", peers[0], "--peer", peers[1],
		      "--http-threads", "8", (char *)NULL);
		_exit(127);
	}
	char url[128];
	snprintf(url, sizeof(url), "%s/_matrix/federation/v1/version", n->base);
	for (int i = 0; i < 200; i++) {
		if (http(NULL, "GET", url, NULL, NULL, NULL) == 200)
			return 0;
		usleep(50000);
	}
	return -1;
}

static void stop(node *n, int sig)
{
	if (n->pid > 0) {
		kill(n->pid, sig);
		waitpid(n->pid, NULL, 0);
		n->pid = 0;
	}
}

static int login(node *n, const char *user)
{
	char url[128], body[256];
	json_t *r = NULL;
	snprintf(url, sizeof(url), "%s/_matrix/client/v3/register", n->base);
	snprintf(body, sizeof(body),
	         "{\"username\":\"%s\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"}}", user);
	if (http(NULL, "POST", url, NULL, body, &r) != 200) {
		json_decref(r);
		snprintf(url, sizeof(url), "%s/_matrix/client/v3/login", n->base);
		snprintf(body, sizeof(body), "{\"type\":\"m.login.password\",\"user\":\"%s\",\"password\":\"pw\"}", user);
		if (http(NULL, "POST", url, NULL, body, &r) != 200)
			return -1;
	}
	snprintf(n->token, sizeof(n->token), "%s", json_string_value(json_object_get(r, "access_token")));
	json_decref(r);
	return 0;
}

/* The newest seq on a node. */
static uint64_t head(node *n)
{
	char url[160];
	json_t *r = NULL;
	snprintf(url, sizeof(url), "%s/_mxdb/v1/changes?limit=0", n->base);
	http(NULL, "GET", url, n->token, NULL, &r);
	uint64_t h = (uint64_t)json_integer_value(json_object_get(r, "head"));
	json_decref(r);
	return h;
}

/* ---- 1. lag ---- */

static char room_id[256], *room_enc;
static double *sent_at; /* by row number */
static int lag_rows;

typedef struct writer {
	int first, step, n, ok;
	double t0;
} writer;

static void *write_paced(void *arg)
{
	writer *w = arg;
	CURL *h = curl_easy_init();
	char url[512];
	for (int i = w->first; i < w->n; i += w->step) {
		double due = w->t0 + i * (1e6 / RATE), d = due - now_us();
		if (d > 0)
			usleep((useconds_t)d);
		snprintf(url, sizeof(url), "%s/_mxdb/v1/tables/%s/rows/" TYPE "/lag%d", nodes[0].base, room_enc, i);
		sent_at[i] = now_us();
		if (http(h, "PUT", url, nodes[0].token, "{\"v\":1}", NULL) == 200)
			w->ok++;
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void bench_lag(double seconds)
{
	lag_rows = (int)(seconds * RATE);
	sent_at = calloc((size_t)lag_rows, sizeof(double));
	double *lag = calloc((size_t)lag_rows, sizeof(double));
	mxdb_watch *w = NULL;
	mxdb_error e;
	mxdb_watch_options o = {.feed_url = nodes[1].feed, .room = room_id, .since = MXDB_WATCH_NOW,
	                        .server = nodes[1].base, .token = nodes[1].token};
	if (mxdb_watch_open(&o, &w, &e) != MXDB_OK) {
		printf("lag: no watch on B: %s\n", e.message);
		return;
	}
	writer ws[WRITERS];
	pthread_t th[WRITERS];
	double t0 = now_us() + 100000;
	for (int i = 0; i < WRITERS; i++) {
		ws[i] = (writer){i, WRITERS, lag_rows, 0, t0};
		pthread_create(&th[i], NULL, write_paced, &ws[i]);
	}
	int got = 0;
	double deadline = t0 + seconds * 1e6 + 30e6;
	while (got < lag_rows && now_us() < deadline) {
		const mxdb_change *c = NULL;
		if (mxdb_watch_next(w, 500, &c, &e) != MXDB_OK || c == NULL)
			continue;
		int i;
		if (sscanf(c->key, "lag%d", &i) == 1 && i >= 0 && i < lag_rows && sent_at[i] > 0 && lag[i] == 0) {
			lag[i] = (now_us() - sent_at[i]) / 1e3;
			got++;
		}
	}
	int ok = 0;
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		ok += ws[i].ok;
	}
	mxdb_watch_close(w);
	double *v = calloc((size_t)got + 1, sizeof(double));
	int k = 0;
	for (int i = 0; i < lag_rows; i++)
		if (lag[i] > 0)
			v[k++] = lag[i];
	qsort(v, (size_t)k, sizeof(double), cmp_double);
	printf("%-28s %d writes at %.0f/s on A (%d acknowledged), %d seen on B's feed:"
	       " p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	       "replication lag A -> B", lag_rows, RATE, ok, k, k ? v[k / 2] : 0,
	       k ? v[(size_t)(k * 0.99)] : 0, k ? v[k - 1] : 0);
	free(v);
	free(lag);
	free(sent_at);
}

/* ---- 2. catch-up ---- */

typedef struct bulk {
	int first, step, n, ok;
} bulk;

static void *write_bulk(void *arg)
{
	bulk *b = arg;
	CURL *h = curl_easy_init();
	char url[512];
	for (int i = b->first; i < b->n; i += b->step) {
		snprintf(url, sizeof(url), "%s/_mxdb/v1/tables/%s/rows/" TYPE "/row%06d", nodes[0].base, room_enc, i);
		if (http(h, "PUT", url, nodes[0].token, "{\"v\":2}", NULL) == 200)
			b->ok++;
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void bench_catchup(int rows)
{
	node *b = &nodes[1];
	uint64_t before = head(b);
	stop(b, SIGTERM);
	bulk bs[8];
	pthread_t th[8];
	double t0 = now_us();
	for (int i = 0; i < 8; i++) {
		bs[i] = (bulk){i, 8, rows, 0};
		pthread_create(&th[i], NULL, write_bulk, &bs[i]);
	}
	int ok = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ok += bs[i].ok;
	}
	double wrote = (now_us() - t0) / 1e6;
	printf("%-28s %d rows on A while B is down: %.1f s (%.0f rows/s through HTTP)\n", "catch-up: writes",
	       ok, wrote, ok / wrote);
	double t_restart = now_us();
	if (start(b) != 0) {
		printf("catch-up: B did not restart\n");
		return;
	}
	t0 = now_us(); /* B answers: from here on the rate is replication's */
	uint64_t want = before + (uint64_t)ok, h = 0;
	double limit = now_us() + 600e6;
	while ((h = head(b)) < want && now_us() < limit)
		usleep(100000);
	double took = (now_us() - t0) / 1e6;
	printf("%-28s B received %llu of %d rows in %.1f s once up (%.1f s after exec): %.0f events/s\n",
	       "catch-up: rate", (unsigned long long)(h > before ? h - before : 0), ok, took,
	       (now_us() - t_restart) / 1e6, (h - before) / took);
}

/* ---- 3. join ---- */

static void bench_join(void)
{
	node *c = &nodes[2];
	char url[512];
	json_t *r = NULL;
	snprintf(url, sizeof(url), "%s/_matrix/client/v3/join/%s?server_name=a.bench", c->base, room_enc);
	double t0 = now_us();
	long st = http(NULL, "POST", url, c->token, "{}", &r);
	double took = (now_us() - t0) / 1e6;
	json_decref(r);
	printf("%-28s C joined a table of %llu rows (on A): HTTP %ld in %.1f s; C's feed head %llu\n",
	       "join", (unsigned long long)head(&nodes[0]), st, took, (unsigned long long)head(c));
}

int main(int argc, char **argv)
{
	int rows = getenv("BENCH_FED_ROWS") ? atoi(getenv("BENCH_FED_ROWS")) : 100000;
	double lag_s = getenv("BENCH_FED_LAG_SECONDS") ? atof(getenv("BENCH_FED_LAG_SECONDS")) : 5.0;
	char exe[4096];
	snprintf(exe, sizeof(exe), "%s", argv[0]);
	snprintf(mxdbd_bin, sizeof(mxdbd_bin), "%s/mxdbd", dirname(exe));
	if (access(mxdbd_bin, X_OK) != 0 || mkdtemp(workdir) == NULL) {
		printf("bench_fed: no mxdbd beside the benchmark (%s): skipped\n", mxdbd_bin);
		return 0;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int base_port = 21000 + (int)((long long)now_us() % 20000);
	for (int i = 0; i < 3; i++) {
		node *n = &nodes[i];
		n->port = base_port + i;
		snprintf(n->base, sizeof(n->base), "http://127.0.0.1:%d", n->port);
		snprintf(n->data, sizeof(n->data), "%s/%c", workdir, 'a' + i);
		snprintf(n->feed, sizeof(n->feed), "ipc://%s/%c.feed", workdir, 'a' + i);
	}
	const char *users[] = {"alice", "bob", "carol"};
	json_t *r = NULL;
	int ok = 1;
	for (int i = 0; ok && i < 3; i++)
		ok = start(&nodes[i]) == 0 && login(&nodes[i], users[i]) == 0;
	char url[512];
	snprintf(url, sizeof(url), "%s/_mxdb/v1/tables", nodes[0].base);
	if (ok && http(NULL, "POST", url, nodes[0].token, "{\"name\":\"bench\",\"visibility\":\"public\"}", &r) == 200)
		snprintf(room_id, sizeof(room_id), "%s", json_string_value(json_object_get(r, "room_id")));
	json_decref(r);
	room_enc = curl_easy_escape(NULL, room_id, 0);
	/* Room IDs of v12 name no server: say which one has the table. */
	snprintf(url, sizeof(url), "%s/_matrix/client/v3/join/%s?server_name=a.bench", nodes[1].base, room_enc);
	if (!ok || !room_id[0] || http(NULL, "POST", url, nodes[1].token, "{}", NULL) != 200) {
		printf("bench_fed: could not set up the cluster (started %d, room \"%s\"): skipped\n", ok, room_id);
	} else {
		bench_lag(lag_s);
		bench_catchup(rows);
		bench_join();
	}
	curl_free(room_enc);
	for (int i = 0; i < 3; i++)
		stop(&nodes[i], SIGTERM);
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", workdir);
	return 0;
}
