/*
 * shared-config: app instances sharing a configuration row through the
 * native table API, updating it with compare-and-set retries (README.md).
 * Uses only libcurl and jansson: what any app backend in C would have.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *server = "http://127.0.0.1:8008", *token, *table;
static char row_url[2048];

typedef struct reply {
	long status;
	char body[4096];
	size_t len;
	char etag[256];
} reply;

static size_t on_body(char *p, size_t s, size_t n, void *u)
{
	reply *r = u;
	size_t k = s * n, room = sizeof(r->body) - 1 - r->len;
	memcpy(r->body + r->len, p, k < room ? k : room);
	r->len += k < room ? k : room;
	r->body[r->len] = '\0';
	return k;
}

static size_t on_header(char *p, size_t s, size_t n, void *u)
{
	reply *r = u;
	size_t k = s * n;
	if (k > 5 && strncasecmp(p, "ETag:", 5) == 0) /* keep it quoted, as If-Match wants it */
		sscanf(p + 5, " %255[^\r\n]", r->etag);
	return k;
}

/* One request on the worker's own handle (keep-alive). */
static int call(CURL *c, const char *method, const char *body, const char *condition, reply *r)
{
	char auth[1100];
	struct curl_slist *h = NULL;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	if (condition)
		h = curl_slist_append(h, condition);
	memset(r, 0, sizeof(*r));
	curl_easy_setopt(c, CURLOPT_URL, row_url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	else
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	CURLcode rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "%s: %s\n", server, curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	return 0;
}

/* The compare-and-set loop: read value and version, change, write if
 * unchanged; on 412 someone else won: read again. */
static int add_one(CURL *c, long *retries)
{
	for (int attempt = 0; attempt < 1000; attempt++) {
		reply r;
		if (call(c, "GET", NULL, NULL, &r) != 0)
			return -1;
		json_t *cfg = r.status == 200 ? json_loads(r.body, 0, NULL) : json_object();
		long n = (long)json_integer_value(json_object_get(cfg, "counter"));
		json_object_set_new(cfg, "counter", json_integer(n + 1));
		char *body = json_dumps(cfg, JSON_COMPACT);
		json_decref(cfg);
		/* write only over the version read; a missing row only if still missing */
		char cond[300] = "If-None-Match: *";
		if (r.status == 200)
			snprintf(cond, sizeof(cond), "If-Match: %s", r.etag);
		int rc = call(c, "PUT", body, cond, &r);
		free(body);
		if (rc != 0)
			return -1;
		if (r.status == 200)
			return 0;
		if (r.status != 412) {
			fprintf(stderr, "PUT: HTTP %ld %s\n", r.status, r.body);
			return -1;
		}
		(*retries)++;
	}
	return -1;
}

typedef struct worker {
	int increments;
	long retries;
	int failed;
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	CURL *c = curl_easy_init();
	for (int i = 0; i < w->increments && !w->failed; i++)
		w->failed = add_one(c, &w->retries) != 0;
	curl_easy_cleanup(c);
	return NULL;
}

int main(int argc, char **argv)
{
	int workers = 4, increments = 25;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--server") == 0)
			server = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			token = argv[i + 1];
		else if (strcmp(argv[i], "--table") == 0)
			table = argv[i + 1];
		else if (strcmp(argv[i], "--workers") == 0)
			workers = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--increments") == 0)
			increments = atoi(argv[i + 1]);
	}
	if (token == NULL || table == NULL || workers < 1 || workers > 64) {
		fprintf(stderr, "usage: %s --token T --table TABLE [--server URL] [--workers N] [--increments M]\n",
		        argv[0]);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	char *t = curl_easy_escape(NULL, table, 0);
	snprintf(row_url, sizeof(row_url), "%s/_mxdb/v1/tables/%s/rows/com.example.config/limits", server, t);
	curl_free(t);
	worker ws[64];
	pthread_t th[64];
	for (int i = 0; i < workers; i++) {
		ws[i] = (worker){increments, 0, 0};
		pthread_create(&th[i], NULL, work, &ws[i]);
	}
	long retries = 0;
	int failed = 0;
	for (int i = 0; i < workers; i++) {
		pthread_join(th[i], NULL);
		retries += ws[i].retries;
		failed += ws[i].failed;
	}
	CURL *c = curl_easy_init();
	reply r;
	int rc = call(c, "GET", NULL, NULL, &r);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	if (rc != 0 || r.status != 200 || failed) {
		fprintf(stderr, "failed (HTTP %ld)\n", r.status);
		return 1;
	}
	printf("%s retries=%ld\n", r.body, retries);
	return 0;
}
