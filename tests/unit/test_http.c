/*
 * test_http.c: the HTTP server on a real loopback socket, driven with
 * libcurl: routing over several prefixes, per-segment percent-decoding,
 * 404/405, tokens, JSON bodies, the 413 limit, CORS and OPTIONS, and parked
 * requests woken by http_wake, by their deadline and by http_stop.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "http.h"
#include "testutil.h"

static void h_echo(http_req *r)
{
	json_t *params = json_array();
	for (int i = 0; i < r->nparam; i++)
		json_array_append_new(params, json_string(r->param[i]));
	const char *q = http_query(r, "q");
	http_reply_json(r, 200,
	                json_pack("{s:o, s:s?, s:s?, s:O?}", "params", params, "q", q, "user",
	                          r->user_id, "body", r->body));
}

static void h_wait(http_req *r)
{
	if (!r->resumed) {
		http_park(r, http_now_ms() + atoi(http_query(r, "ms")));
		return;
	}
	http_reply_json(r, 200, json_pack("{s:b}", "closing", http_closing(r->srv)));
}

/* Parks with a key (its park state) until woken; answers the key. */
static void h_keyed(http_req *r)
{
	if (!r->resumed) {
		r->park = strdup(http_query(r, "key"));
		r->park_free = free;
		http_park(r, http_now_ms() + 5000);
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s}", "key", (char *)r->park));
}

static bool key_match(const void *park, void *arg)
{
	return strcmp(park, arg) == 0;
}

static int app_marker;
static void h_app(http_req *r)
{
	http_reply_json(r, 200, json_pack("{s:b}", "mine", r->app == &app_marker));
}

static const http_route routes[] = {
	{HTTP_GET, "echo/*/*?", h_echo, 0},
	{HTTP_PUT | HTTP_POST, "body", h_echo, 0},
	{HTTP_GET, "me", h_echo, HTTP_AUTH},
	{HTTP_GET, "wait", h_wait, 0},
	{HTTP_GET, "keyed", h_keyed, 0},
	{0, NULL, NULL, 0},
};
static const char *const prefixes[] = {"/_t/r0", "/_t/v3", NULL};
static const http_routes table = {prefixes, routes, 0};
static const http_route other_routes[] = {{HTTP_GET, "app", h_app, 0}, {0, NULL, NULL, 0}};
static const char *const other_prefixes[] = {"/_other", NULL};
static const http_routes other_table = {other_prefixes, other_routes, 0};
/* A table of its own body limit (as federation's, larger than the server's). */
static const http_route big_routes[] = {{HTTP_PUT, "body", h_echo, 0}, {0, NULL, NULL, 0}};
static const char *const big_prefixes[] = {"/_big", NULL};
static const http_routes big_table = {big_prefixes, big_routes, 3000};

static mxdb_status auth(void *app, const char *token, char **user, char **device)
{
	if (strcmp(token, "good") != 0)
		return MXDB_ENOTFOUND;
	*user = strdup("@u:x");
	*device = strdup("D");
	return MXDB_OK;
}

typedef struct resp {
	long status;
	char body[4096];
	size_t len;
	char headers[4096];
	size_t hlen;
} resp;

/* Appends what fits (a test reply is small); tells curl all was taken. */
static size_t keep(char *dst, size_t *len, size_t cap, const char *p, size_t k)
{
	if (*len + k < cap) {
		memcpy(dst + *len, p, k);
		*len += k;
		dst[*len] = '\0';
	}
	return k;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
	resp *r = ud;
	return keep(r->body, &r->len, sizeof(r->body), p, sz * n);
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	resp *r = ud;
	return keep(r->headers, &r->hlen, sizeof(r->headers), p, sz * n);
}

static int port;

static void req(resp *out, const char *method, const char *path, const char *body,
                const char *header)
{
	memset(out, 0, sizeof(*out));
	CURL *c = curl_easy_init();
	char url[1024];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	struct curl_slist *h = NULL;
	if (header != NULL)
		h = curl_slist_append(h, header);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static const char *errcode(const resp *r, char *buf, size_t cap)
{
	json_t *j = json_loads(r->body, 0, NULL);
	snprintf(buf, cap, "%s", j ? json_string_value(json_object_get(j, "errcode")) ?: "" : "");
	json_decref(j);
	return buf;
}

static void *wait_thread(void *arg)
{
	req(arg, "GET", "/_t/v3/wait?ms=5000", NULL, NULL);
	return NULL;
}

static void *keyed_a(void *arg)
{
	req(arg, "GET", "/_t/v3/keyed?key=a", NULL, NULL);
	return NULL;
}

static void *keyed_b(void *arg)
{
	req(arg, "GET", "/_t/v3/keyed?key=b", NULL, NULL);
	return NULL;
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	http_server *s;
	http_config cfg = {.port = 0, .threads = 2, .body_limit = 1000, .auth = auth};
	CHECK(http_new(&s, &cfg, NULL) == MXDB_OK);
	http_add_routes(s, &table);
	http_add_routes_app(s, &other_table, &app_marker);
	http_add_routes(s, &big_table);
	CHECK(http_start(s, NULL) == MXDB_OK);
	port = http_port(s);
	CHECK(port > 0);
	resp r;
	char ec[64];

	/* both prefixes; each segment decoded on its own: %2F stays inside */
	req(&r, "GET", "/_t/r0/echo/%21room%3Aserver/a%2Fb?q=x%20y", NULL, NULL);
	CHECK_MSG(r.status == 200 && strstr(r.body, "\"!room:server\"") &&
	              strstr(r.body, "\"a/b\"") && strstr(r.body, "\"q\":\"x y\""),
	          "%ld %s", r.status, r.body);
	req(&r, "GET", "/_t/v3/echo/!raw:server", NULL, NULL);
	CHECK_MSG(r.status == 200 && strstr(r.body, "[\"!raw:server\",\"\"]"), "%s", r.body);
	req(&r, "GET", "/_t/v3/echo/a/", NULL, NULL);
	CHECK_MSG(r.status == 200 && strstr(r.body, "[\"a\",\"\"]"), "%s", r.body);
	req(&r, "GET", "/_t/v3/echo/a%00b", NULL, NULL);
	CHECK(r.status == 400);
	/* unknown path, wrong method, wrong prefix */
	req(&r, "GET", "/_t/v3/nope", NULL, NULL);
	CHECK(r.status == 404 && strcmp(errcode(&r, ec, sizeof(ec)), "M_UNRECOGNIZED") == 0);
	req(&r, "DELETE", "/_t/v3/echo/x", NULL, NULL);
	CHECK(r.status == 405 && strcmp(errcode(&r, ec, sizeof(ec)), "M_UNRECOGNIZED") == 0);
	req(&r, "GET", "/_t/v2/echo/x", NULL, NULL);
	CHECK(r.status == 404);
	/* CORS on every answer, OPTIONS preflight */
	CHECK(strstr(r.headers, "Access-Control-Allow-Origin: *") != NULL);
	req(&r, "OPTIONS", "/_t/v3/anything", NULL, NULL);
	CHECK(r.status == 200 && strstr(r.headers, "Access-Control-Allow-Methods") != NULL);
	/* tokens */
	req(&r, "GET", "/_t/v3/me", NULL, NULL);
	CHECK(r.status == 401 && strcmp(errcode(&r, ec, sizeof(ec)), "M_MISSING_TOKEN") == 0);
	req(&r, "GET", "/_t/v3/me", NULL, "Authorization: Bearer bad");
	CHECK(r.status == 401 && strcmp(errcode(&r, ec, sizeof(ec)), "M_UNKNOWN_TOKEN") == 0);
	req(&r, "GET", "/_t/v3/me", NULL, "Authorization: Bearer good");
	CHECK(r.status == 200 && strstr(r.body, "\"@u:x\""));
	req(&r, "GET", "/_t/v3/me?access_token=good", NULL, NULL);
	CHECK(r.status == 200 && strstr(r.body, "\"@u:x\""));
	/* bodies */
	req(&r, "PUT", "/_t/v3/body", "{\"a\":1}", NULL);
	CHECK_MSG(r.status == 200 && strstr(r.body, "\"body\":{\"a\":1}"), "%s", r.body);
	req(&r, "PUT", "/_t/v3/body", "{\"a\":", NULL);
	CHECK(r.status == 400 && strcmp(errcode(&r, ec, sizeof(ec)), "M_NOT_JSON") == 0);
	req(&r, "PUT", "/_t/v3/body", "[1]", NULL);
	CHECK(r.status == 400 && strcmp(errcode(&r, ec, sizeof(ec)), "M_BAD_JSON") == 0);
	req(&r, "PUT", "/_t/v3/body", "{\"a\":1,\"a\":2}", NULL);
	CHECK(r.status == 400);
	char big[1200];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	req(&r, "POST", "/_t/v3/body", big, NULL);
	CHECK(r.status == 413 && strcmp(errcode(&r, ec, sizeof(ec)), "M_TOO_LARGE") == 0);
	/* a table's own limit: over the server's, under the table's */
	char json[2600], huge[3100];
	memcpy(json, "{\"s\":\"", 6);
	memset(json + 6, 'y', 2500);
	memcpy(json + 2506, "\"}", 3);
	memset(huge, 'z', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	req(&r, "PUT", "/_big/body", json, NULL);
	CHECK_MSG(r.status == 200 && strstr(r.body, "yyyy") != NULL, "%ld", r.status);
	req(&r, "PUT", "/_big/body", huge, NULL);
	CHECK(r.status == 413 && strcmp(errcode(&r, ec, sizeof(ec)), "M_TOO_LARGE") == 0);
	req(&r, "PUT", "/_t/v3/body", json, NULL);
	CHECK(r.status == 413);
	req(&r, "PUT", "/_bigger/body", json, NULL); /* a prefix ends at a '/' */
	CHECK(r.status == 413);

	/* a parked request answers at its deadline */
	int64_t t0 = http_now_ms();
	req(&r, "GET", "/_t/v3/wait?ms=200", NULL, NULL);
	int64_t dt = http_now_ms() - t0;
	CHECK_MSG(r.status == 200 && dt >= 190 && dt < 3000, "status %ld after %lld ms", r.status,
	          (long long)dt);
	/* ... and at once on http_wake */
	resp w;
	pthread_t th;
	pthread_create(&th, NULL, wait_thread, &w);
	usleep(200000);
	t0 = http_now_ms();
	http_wake(s);
	pthread_join(th, NULL);
	dt = http_now_ms() - t0;
	CHECK_MSG(w.status == 200 && dt < 3000, "status %ld after %lld ms", w.status, (long long)dt);
	/* http_wake_match re-runs only the parked requests it matches */
	resp ka, kb;
	pthread_t tha, thb;
	pthread_create(&tha, NULL, keyed_a, &ka);
	pthread_create(&thb, NULL, keyed_b, &kb);
	usleep(300000);
	CHECK(http_has_parked(s));
	http_wake_match(s, h_keyed, key_match, "a");
	pthread_join(tha, NULL);
	CHECK_MSG(ka.status == 200 && strstr(ka.body, "\"a\""), "%ld %s", ka.status, ka.body);
	usleep(100000);
	CHECK(kb.status == 0); /* still parked */
	t0 = http_now_ms();
	http_wake(s);
	pthread_join(thb, NULL);
	CHECK_MSG(kb.status == 200 && strstr(kb.body, "\"b\"") && http_now_ms() - t0 < 3000, "%ld %s",
	          kb.status, kb.body);
	CHECK(!http_has_parked(s));
	/* a table added with its own app hands it to its handlers */
	req(&r, "GET", "/_other/app", NULL, NULL);
	CHECK_MSG(r.status == 200 && strstr(r.body, "\"mine\":true"), "%s", r.body);

	/* http_stop answers a parked request before stopping */
	pthread_create(&th, NULL, wait_thread, &w);
	usleep(200000);
	http_stop(s);
	pthread_join(th, NULL);
	CHECK_MSG(w.status == 200 && strstr(w.body, "\"closing\":true"), "%ld %s", w.status, w.body);
	curl_global_cleanup();
	return test_summary("test_http");
}
