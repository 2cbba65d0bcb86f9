/*
 * bench_http.c: the Matrix client API measured through HTTP on loopback
 * against a real mxdbd that this program starts (the one next to it, or
 * $MXDB_BIN/mxdbd): sequential send latency (p50/p99) and throughput,
 * throughput with 16 concurrent clients, /sync wake-up latency (from the
 * sender's reply to the long-poller's reply), and the daemon's resident
 * memory idle and after 100,000 messages. Prints figures; asserts nothing.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>

#define SEQ_SENDS 5000
#define CLIENTS 16
#define PER_CLIENT 1000
#define WAKEUPS 200
#define TOTAL_MESSAGES 100000

static int port;
static char base[128];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct buf {
	char *p;
	size_t n;
} buf;

static size_t on_data(char *p, size_t sz, size_t nm, void *ud)
{
	buf *b = ud;
	size_t k = sz * nm;
	char *np = realloc(b->p, b->n + k + 1);
	if (np == NULL)
		return 0;
	memcpy(np + b->n, p, k);
	b->p = np;
	b->n += k;
	b->p[b->n] = '\0';
	return k;
}

/* One request on a reusable handle (keep-alive); returns the parsed body. */
static json_t *call(CURL *c, const char *method, const char *path, const char *token,
                    const char *body, long *status)
{
	char url[1024], auth[256];
	snprintf(url, sizeof(url), "%s%s", base, path);
	buf b = {0};
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
	curl_easy_setopt(c, CURLOPT_HTTPGET, strcmp(method, "GET") == 0 ? 1L : 0L);
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	long st = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	curl_slist_free_all(h);
	if (status != NULL)
		*status = st;
	json_t *j = b.p ? json_loads(b.p, 0, NULL) : NULL;
	free(b.p);
	return j;
}

static char *str_of(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	char *r = s ? strdup(s) : NULL;
	json_decref(j);
	return r;
}

static char *user_token(CURL *c, const char *name, bool create)
{
	char body[256];
	snprintf(body, sizeof(body),
	         "{\"username\":\"%s\",\"password\":\"pw\",\"auth\":{\"type\":\"m.login.dummy\"},"
	         "\"type\":\"m.login.password\",\"user\":\"%s\"}",
	         name, name);
	return str_of(call(c, "POST", create ? "/_matrix/client/v3/register" : "/_matrix/client/v3/login",
	                   NULL, body, NULL),
	              "access_token");
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	long kib = -1;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = atol(line + 6);
	if (f != NULL)
		fclose(f);
	return kib;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[(size_t)(p * (double)(n - 1))];
}

static char room_path[512];

/* Sends n messages on one handle; fills lat (seconds) when not NULL. */
static size_t send_many(CURL *c, const char *token, const char *tag, size_t n, double *lat)
{
	size_t ok = 0;
	char path[700];
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/send/m.room.message/%s-%zu", room_path, tag, i);
		double t0 = now_s();
		long st;
		json_t *j = call(c, "PUT", path, token,
		                 "{\"msgtype\":\"m.text\",\"body\":\"a benchmark message of a typical "
		                 "chat length, say about eighty bytes\"}",
		                 &st);
		if (lat != NULL)
			lat[i] = now_s() - t0;
		ok += st == 200;
		json_decref(j);
	}
	return ok;
}

typedef struct worker {
	char *token;
	char tag[32];
	size_t n, ok;
} worker;

static void *worker_main(void *arg)
{
	worker *w = arg;
	CURL *c = curl_easy_init();
	w->ok = send_many(c, w->token, w->tag, w->n, NULL);
	curl_easy_cleanup(c);
	return NULL;
}

/* Runs CLIENTS workers sending per messages each; returns messages/s. */
static double concurrent(char **tokens, const char *round, size_t per, size_t *ok)
{
	pthread_t th[CLIENTS];
	worker w[CLIENTS];
	double t0 = now_s();
	for (int i = 0; i < CLIENTS; i++) {
		w[i] = (worker){.token = tokens[i], .n = per};
		snprintf(w[i].tag, sizeof(w[i].tag), "%s-c%d", round, i);
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	*ok = 0;
	for (int i = 0; i < CLIENTS; i++) {
		pthread_join(th[i], NULL);
		*ok += w[i].ok;
	}
	return (double)*ok / (now_s() - t0);
}

/* ---- wake-up latency ---- */

typedef struct poller {
	char *token;
	char since[128];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, done;       /* rounds begun and answered */
	double got[WAKEUPS];     /* when each round's reply arrived */
} poller;

static void *poller_main(void *arg)
{
	poller *p = arg;
	CURL *c = curl_easy_init();
	for (int r = 0; r < WAKEUPS; r++) {
		char path[300];
		snprintf(path, sizeof(path), "/_matrix/client/v3/sync?since=%s&timeout=10000", p->since);
		pthread_mutex_lock(&p->mu);
		p->started = r + 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		json_t *j = call(c, "GET", path, p->token, NULL, NULL);
		double t = now_s();
		const char *nb = json_string_value(json_object_get(j, "next_batch"));
		pthread_mutex_lock(&p->mu);
		p->got[r] = t;
		p->done = r + 1;
		if (nb != NULL)
			snprintf(p->since, sizeof(p->since), "%s", nb);
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		json_decref(j);
	}
	curl_easy_cleanup(c);
	return NULL;
}

static pid_t start_mxdbd(const char *bin, const char *dir, const char *sync_mode)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		char data[PATH_MAX], feed[PATH_MAX];
		snprintf(data, sizeof(data), "%s/data", dir);
		snprintf(feed, sizeof(feed), "ipc://%s/feed", dir);
		execl(bin, bin, "--listen", "127.0.0.1:0", "--server-name", "bench.local", "--data", data,
		      "--feed", feed, "--password-hash", "fast", "--log-level", "warn", "--synchronous",
		      sync_mode, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *f = fdopen(fds[0], "r");
	char line[512];
	if (f == NULL || fgets(line, sizeof(line), f) == NULL)
		return -1;
	const char *p = strstr(line, "127.0.0.1:");
	port = p ? atoi(p + 10) : 0;
	fclose(f);
	return port > 0 ? pid : -1;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], bin[PATH_MAX + 16];
	const char *env = getenv("MXDB_BIN");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(bin, sizeof(bin), "%s/mxdbd", env ? env : dirname(self));
	setvbuf(stdout, NULL, _IOLBF, 0);
	char dir[] = "/tmp/mxdb-bench-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* MXDB_BENCH_SYNC=normal measures without the fsync per group commit. */
	const char *mode = getenv("MXDB_BENCH_SYNC");
	pid_t pid = start_mxdbd(bin, dir, mode ? mode : "full");
	if (pid < 0) {
		fprintf(stderr, "bench_http: cannot start %s\n", bin);
		return 1;
	}
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	printf("bench_http: mxdbd pid %d on port %d, synchronous=%s\n", (int)pid, port,
	       mode ? mode : "full");

	CURL *c = curl_easy_init();
	char *alice = user_token(c, "alice", true), *bob = user_token(c, "bob", true);
	json_t *r = call(c, "POST", "/_matrix/client/v3/createRoom", alice,
	                 "{\"preset\":\"public_chat\",\"name\":\"bench\"}", NULL);
	char *room = str_of(r, "room_id");
	char *enc = curl_easy_escape(c, room ? room : "", 0);
	snprintf(room_path, sizeof(room_path), "/_matrix/client/v3/rooms/%s", enc);
	char path[700];
	snprintf(path, sizeof(path), "%s/join", room_path);
	json_decref(call(c, "POST", path, bob, "{}", NULL));
	char *tokens[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		tokens[i] = user_token(c, "alice", false); /* one device per client */
	usleep(300000);
	long idle = rss_kib(pid);
	printf("idle RSS: %.1f MiB\n", (double)idle / 1024);

	/* the HTTP layer alone: an authenticated request that writes nothing */
	double *lat = calloc(SEQ_SENDS, sizeof(double));
	double t0 = now_s();
	for (int i = 0; i < SEQ_SENDS; i++) {
		double t1 = now_s();
		json_decref(call(c, "GET", "/_matrix/client/v3/account/whoami", alice, NULL, NULL));
		lat[i] = now_s() - t1;
	}
	double dt = now_s() - t0;
	printf("sequential whoami (HTTP + token, no write): %.0f req/s, p50 %.0f us, p99 %.0f us\n",
	       SEQ_SENDS / dt, pct(lat, SEQ_SENDS, 0.5) * 1e6, pct(lat, SEQ_SENDS, 0.99) * 1e6);

	/* sequential sends */
	t0 = now_s();
	size_t ok = send_many(c, alice, "seq", SEQ_SENDS, lat);
	dt = now_s() - t0;
	printf("sequential send: %zu/%d ok, %.0f msg/s, p50 %.0f us, p99 %.0f us\n", ok, SEQ_SENDS,
	       (double)ok / dt, pct(lat, SEQ_SENDS, 0.5) * 1e6, pct(lat, SEQ_SENDS, 0.99) * 1e6);
	size_t total = ok;

	/* 16 concurrent clients */
	size_t cok;
	double rate = concurrent(tokens, "par", PER_CLIENT, &cok);
	printf("%d concurrent clients: %zu/%d ok, %.0f msg/s\n", CLIENTS, cok, CLIENTS * PER_CLIENT,
	       rate);
	total += cok;

	/* sync wake-up: bob long-polls, alice sends once the poll is parked */
	poller p = {.token = bob};
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	/* an initial sync with a one-event timeline, for the token to poll from */
	json_t *s = call(c, "GET",
	                 "/_matrix/client/v3/sync?timeout=0&filter=%7B%22room%22%3A%7B%22timeline%22"
	                 "%3A%7B%22limit%22%3A1%7D%7D%7D",
	                 bob, NULL, NULL);
	const char *nb = json_string_value(json_object_get(s, "next_batch"));
	snprintf(p.since, sizeof(p.since), "%s", nb ? nb : "");
	json_decref(s);
	pthread_t pt;
	pthread_create(&pt, NULL, poller_main, &p);
	double *wake = calloc(WAKEUPS, sizeof(double));
	int nwake = 0;
	for (int i = 0; i < WAKEUPS; i++) {
		pthread_mutex_lock(&p.mu);
		while (p.started < i + 1)
			pthread_cond_wait(&p.cv, &p.mu);
		pthread_mutex_unlock(&p.mu);
		usleep(3000); /* let the poll reach the server and park */
		snprintf(path, sizeof(path), "%s/send/m.room.message/wake-%d", room_path, i);
		long st;
		json_decref(call(c, "PUT", path, alice, "{\"msgtype\":\"m.text\",\"body\":\"wake\"}", &st));
		double replied = now_s();
		total += st == 200;
		pthread_mutex_lock(&p.mu);
		while (p.done < i + 1)
			pthread_cond_wait(&p.cv, &p.mu); /* bounded: the poll times out in 10 s */
		/* negative: the poller's reply came before the sender's */
		wake[nwake++] = p.got[i] - replied;
		pthread_mutex_unlock(&p.mu);
	}
	pthread_join(pt, NULL);
	printf("sync wake-up (sender's reply -> poller's reply): p50 %.0f us, p99 %.0f us "
	       "(%d rounds)\n",
	       pct(wake, (size_t)nwake, 0.5) * 1e6, pct(wake, (size_t)nwake, 0.99) * 1e6, nwake);

	/* fill up to 100,000 messages, then memory */
	for (int round = 0; total < TOTAL_MESSAGES && round < 20; round++) {
		size_t left = TOTAL_MESSAGES - total;
		size_t per = (left + CLIENTS - 1) / CLIENTS;
		char tag[16];
		snprintf(tag, sizeof(tag), "fill%d", round);
		concurrent(tokens, tag, per, &cok);
		total += cok;
	}
	printf("RSS after %zu messages: %.1f MiB\n", total, (double)rss_kib(pid) / 1024);

	kill(pid, SIGTERM);
	int status = 0;
	waitpid(pid, &status, 0);
	printf("mxdbd exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	for (int i = 0; i < CLIENTS; i++)
		free(tokens[i]);
	free(lat);
	free(wake);
	free(alice);
	free(bob);
	free(room);
	curl_free(enc);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return 0;
}
