/*
 * fed_client.c: outbound federation HTTP over libcurl. Owns the curl share
 * (connections, DNS, TLS sessions reused across requests and threads) and
 * the server-name resolution cache (the spec's steps in order: --peer map,
 * IP literal, explicit port, .well-known, SRV, port 8448). Never interprets
 * the answers beyond parsing their JSON; callers decide what a status means.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <limits.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cjson.h"
#include "fed_auth.h"
#include "fed_client.h"
#include "fed_srv.h"
#include "fed_store.h"

#define WELL_KNOWN_OK_MS (24LL * 3600 * 1000)
#define WELL_KNOWN_MAX_MS (48LL * 3600 * 1000)
#define WELL_KNOWN_ERR_MS (3600LL * 1000)
#define SRV_MIN_TTL_S 5u /* a TTL of 0 would mean a .well-known fetch per request */
#define MAX_TARGETS 4 /* SRV records kept per name */
#define RESPONSE_LIMIT (512u << 20) /* a send_join answer for a big table */

/* Where the sockets for one server name go, tried in order: curl
 * connect-to entries ("::host:port"), or one "" for "where the URL says".
 * Several only from SRV records (RFC 2782: the next when one is down). */
typedef struct fed_targets {
	char ct[MAX_TARGETS][320];
	int n;
} fed_targets;

/* Where a server name is reached; peers from --peer never expire. */
typedef struct fed_route {
	char *name;
	char base[320]; /* "https://name[:port]" */
	fed_targets to;
	long long expires_ms;
	struct fed_route *next;
} fed_route;

struct fed_client {
	char *server_name;
	const mx_key *key;
	int plain_http;
	char *ca_file;
	long connect_timeout_ms, timeout_ms;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t routes_lock;
	fed_route *routes;
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	fed_client *c = ctx;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	fed_client *c = ctx;
	pthread_mutex_unlock(&c->share_locks[data]);
}

/* curl_global_init is not thread-safe: once per process. */
static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

mxdb_status fed_client_new(const fed_client_config *cfg, fed_client **out, mxdb_error *err)
{
	*out = NULL;
	if (cfg->server_name == NULL || cfg->key == NULL)
		return mx_fail(err, MXDB_EINVAL, "federation client needs a server name and a key");
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, global_init);
	fed_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return mx_fail(err, MXDB_ENOMEM, "federation client");
	c->server_name = strdup(cfg->server_name);
	c->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
	c->key = cfg->key;
	c->plain_http = cfg->plain_http;
	c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->routes_lock, NULL);
	c->share = curl_share_init();
	if (c->share == NULL || c->server_name == NULL || (cfg->ca_file && c->ca_file == NULL)) {
		fed_client_free(c);
		return mx_fail(err, MXDB_ENOMEM, "federation client");
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = c;
	return MXDB_OK;
}

void fed_client_free(fed_client *c)
{
	if (c == NULL)
		return;
	if (c->share)
		curl_share_cleanup(c->share);
	for (fed_route *r = c->routes, *next; r; r = next) {
		next = r->next;
		free(r->name);
		free(r);
	}
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->routes_lock);
	free(c->server_name);
	free(c->ca_file);
	free(c);
}

static const char *scheme(const fed_client *c)
{
	return c->plain_http ? "http" : "https";
}

/* Adds or replaces the cached route for name. */
static mxdb_status route_put(fed_client *c, const char *name, const char *base,
                             const fed_targets *to, long long expires, mxdb_error *err)
{
	pthread_mutex_lock(&c->routes_lock);
	fed_route *r = c->routes;
	while (r && strcmp(r->name, name) != 0)
		r = r->next;
	if (r == NULL) {
		r = calloc(1, sizeof(*r));
		if (r == NULL || (r->name = strdup(name)) == NULL) {
			free(r);
			pthread_mutex_unlock(&c->routes_lock);
			return mx_fail(err, MXDB_ENOMEM, "route");
		}
		r->next = c->routes;
		c->routes = r;
	}
	snprintf(r->base, sizeof(r->base), "%s", base);
	r->to = *to;
	r->expires_ms = expires;
	pthread_mutex_unlock(&c->routes_lock);
	return MXDB_OK;
}

static int route_get(fed_client *c, const char *name, char *base, size_t bcap, fed_targets *to)
{
	int found = 0;
	long long now = fed_now_ms();
	pthread_mutex_lock(&c->routes_lock);
	for (fed_route *r = c->routes; r; r = r->next) {
		if (strcmp(r->name, name) == 0 && r->expires_ms > now) {
			snprintf(base, bcap, "%s", r->base);
			*to = r->to;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&c->routes_lock);
	return found;
}

mxdb_status fed_client_add_peer(fed_client *c, const char *spec, mxdb_error *err)
{
	const char *eq = strchr(spec, '=');
	if (eq == NULL || eq == spec || strchr(eq + 1, ':') == NULL || strlen(spec) > 300)
		return mx_fail(err, MXDB_EINVAL, "--peer wants NAME=HOST:PORT, not %s", spec);
	char name[256], base[320];
	fed_targets to = {.n = 1};
	snprintf(name, sizeof(name), "%.*s", (int)(eq - spec), spec);
	snprintf(base, sizeof(base), "%s://%s", scheme(c), name);
	snprintf(to.ct[0], sizeof(to.ct[0]), "::%s", eq + 1);
	return route_put(c, name, base, &to, LLONG_MAX, err);
}

/* Splits a server name into host and port (0 when none); IPv6 literals keep
 * their brackets. Returns 0 when it is no server name. */
static int split_name(const char *name, char *host, size_t cap, long *port)
{
	const char *colon;
	*port = 0;
	if (name[0] == '[') {
		const char *end = strchr(name, ']');
		if (end == NULL)
			return 0;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return 0;
	} else {
		colon = strchr(name, ':');
	}
	size_t hlen = colon ? (size_t)(colon - name) : strlen(name);
	if (hlen == 0 || hlen >= cap)
		return 0;
	memcpy(host, name, hlen);
	host[hlen] = '\0';
	if (colon) {
		char *endp;
		*port = strtol(colon + 1, &endp, 10);
		if (*endp != '\0' || *port <= 0 || *port > 65535)
			return 0;
	}
	return 1;
}

static int ip_literal(const char *host)
{
	unsigned char buf[16];
	if (host[0] == '[')
		return 1;
	return inet_pton(AF_INET, host, buf) == 1;
}

typedef struct body_buf {
	char *data;
	size_t len;
	int too_big;
} body_buf;

static size_t on_data(char *ptr, size_t size, size_t n, void *ctx)
{
	body_buf *b = ctx;
	size_t add = size * n;
	if (b->len + add > RESPONSE_LIMIT) {
		b->too_big = 1;
		return 0;
	}
	char *grown = realloc(b->data, b->len + add + 1);
	if (grown == NULL)
		return 0;
	memcpy(grown + b->len, ptr, add);
	b->data = grown;
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

/* Cache-Control of the last response (redirects give several): max-age in
 * ms, 0 for no-store / no-cache, -1 when it says nothing. */
static size_t on_header(char *line, size_t size, size_t n, void *ctx)
{
	long long *max_age = ctx;
	size_t len = size * n;
	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0)
		*max_age = -1; /* a new response begins */
	else if (len > 14 && strncasecmp(line, "cache-control:", 14) == 0) {
		char v[256];
		snprintf(v, sizeof(v), "%.*s", (int)(len - 14), line + 14);
		const char *ma = strcasestr(v, "max-age=");
		if (strcasestr(v, "no-store") || strcasestr(v, "no-cache"))
			*max_age = 0;
		else if (ma)
			*max_age = strtoll(ma + 8, NULL, 10) * 1000;
	}
	return len;
}

/* One HTTP exchange. url complete; connect_to may be "". cache_ms non-NULL
 * is a .well-known fetch: redirects are followed and *cache_ms gets what
 * Cache-Control says (see on_header). *unreachable (may be NULL): no
 * connection could be made (the next target may be tried). */
static mxdb_status perform(fed_client *c, const char *url, const char *connect_to,
                           const char *method, const char *auth, const char *body, long *status,
                           json_t **resp, long long *cache_ms, bool *unreachable, mxdb_error *err)
{
	CURL *h = curl_easy_init();
	if (h == NULL)
		return mx_fail(err, MXDB_ENOMEM, "curl handle");
	struct curl_slist *headers = NULL, *ct = NULL;
	body_buf b = {0};
	headers = curl_slist_append(headers, "Accept: application/json");
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/json");
	if (auth) {
		char *line = NULL;
		if (asprintf(&line, "Authorization: %s", auth) >= 0) {
			headers = curl_slist_append(headers, line);
			free(line);
		}
	}
	if (connect_to[0])
		ct = curl_slist_append(NULL, connect_to);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	if (ct)
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, ct);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	if (cache_ms) {
		/* .well-known: redirects followed, loops cut by the limit. */
		*cache_ms = -1;
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, cache_ms);
	}
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	CURLcode rc = curl_easy_perform(h);
	mxdb_status st = MXDB_OK;
	if (unreachable)
		*unreachable = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
	if (rc != CURLE_OK) {
		st = mx_fail(err, MXDB_EIO, "%s %s: %s", method, url,
		             b.too_big ? "answer too large" : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
		if (resp)
			*resp = b.len ? json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	}
	free(b.data);
	curl_slist_free_all(headers);
	curl_slist_free_all(ct);
	curl_easy_cleanup(h);
	return st;
}

/* Spec steps 3.3-3.4 and 4-5: the SRV records of host, _matrix-fed._tcp
 * first, then the deprecated _matrix._tcp. On a hit to holds their targets
 * in RFC 2782 order as curl connect-to entries (the Host header and TLS name
 * stay host: connect-to changes only where the socket goes) and *ttl_ms is
 * bounded by the records' TTL. Else port 8448 of host. */
static void srv_or_8448(const char *host, fed_targets *to, long long *ttl_ms)
{
	static const char *const services[] = {"_matrix-fed._tcp.", "_matrix._tcp."};
	to->n = 1;
	snprintf(to->ct[0], sizeof(to->ct[0]), "::%s:8448", host);
	for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
		char qname[300];
		fed_srv *r = NULL;
		size_t n = 0;
		uint32_t ttl = 0;
		mxdb_error e;
		snprintf(qname, sizeof(qname), "%s%s", services[i], host);
		if (fed_srv_lookup(qname, &r, &n, &ttl, &e) != MXDB_OK)
			continue;
		to->n = n < MAX_TARGETS ? (int)n : MAX_TARGETS;
		for (int k = 0; k < to->n; k++)
			snprintf(to->ct[k], sizeof(to->ct[k]), "::%s:%u", r[k].target, (unsigned)r[k].port);
		long long ms = (long long)(ttl < SRV_MIN_TTL_S ? SRV_MIN_TTL_S : ttl) * 1000;
		if (ms < *ttl_ms)
			*ttl_ms = ms;
		free(r);
		return;
	}
}

/* Spec step 3: /.well-known/matrix/server. A valid m.server delegates (3.1
 * IP literal, 3.2 explicit port, 3.3-3.5 SRV of the delegated host, else its
 * port 8448; the Host header is the delegated name); without one, steps 4-6
 * on host itself. *ttl: how long the answer may be cached. */
static void well_known(fed_client *c, const char *host, char *base, size_t bcap, fed_targets *to,
                       long long *ttl)
{
	char url[400];
	long status = 0;
	json_t *wk = NULL;
	snprintf(url, sizeof(url), "%s://%s/.well-known/matrix/server", scheme(c), host);
	*ttl = WELL_KNOWN_ERR_MS;
	const char *deleg = NULL;
	long long cache_ms = -1;
	if (perform(c, url, "", "GET", NULL, NULL, &status, &wk, &cache_ms, NULL, NULL) == MXDB_OK &&
	    status == 200)
		deleg = json_string_value(json_object_get(wk, "m.server"));
	char dhost[256];
	long dport;
	if (deleg == NULL || !split_name(deleg, dhost, sizeof(dhost), &dport)) {
		snprintf(base, bcap, "%s://%s", scheme(c), host);
		srv_or_8448(host, to, ttl);
		goto out;
	}
	/* Spec: honour the cache headers, 24 h without them, 48 h at most. */
	*ttl = cache_ms < 0                       ? WELL_KNOWN_OK_MS
	       : cache_ms > WELL_KNOWN_MAX_MS     ? WELL_KNOWN_MAX_MS
	       : cache_ms < SRV_MIN_TTL_S * 1000LL ? SRV_MIN_TTL_S * 1000LL
	                                          : cache_ms;
	snprintf(base, bcap, "%s://%s", scheme(c), deleg);
	to->n = 1;
	if (dport)
		to->ct[0][0] = '\0';
	else if (ip_literal(dhost))
		snprintf(to->ct[0], sizeof(to->ct[0]), "::%s:8448", dhost);
	else
		srv_or_8448(dhost, to, ttl);
out:
	json_decref(wk);
}

static mxdb_status resolve(fed_client *c, const char *destination, char *base, size_t bcap,
                           fed_targets *to, mxdb_error *err)
{
	char host[256];
	long port;
	if (!split_name(destination, host, sizeof(host), &port))
		return mx_fail(err, MXDB_EINVAL, "bad server name %s", destination);
	if (route_get(c, destination, base, bcap, to))
		return MXDB_OK;
	if (port || ip_literal(host)) {
		/* Steps 1-2: an IP literal or an explicit port is connected to
		 * directly (8448 by default), no DNS games. */
		snprintf(base, bcap, "%s://%s", scheme(c), destination);
		to->n = 1;
		if (port)
			to->ct[0][0] = '\0';
		else
			snprintf(to->ct[0], sizeof(to->ct[0]), "::%s:8448", host);
		return MXDB_OK;
	}
	long long ttl;
	well_known(c, host, base, bcap, to, &ttl);
	return route_put(c, destination, base, to, fed_now_ms() + ttl, err);
}

mxdb_status fed_client_resolve(fed_client *c, const char *destination, char *base, size_t bcap,
                               char *ct, size_t ccap, mxdb_error *err)
{
	fed_targets to;
	mxdb_status st = resolve(c, destination, base, bcap, &to, err);
	if (st == MXDB_OK)
		snprintf(ct, ccap, "%s", to.ct[0]);
	return st;
}

/* Target i of destination answered while the ones before it did not: it
 * goes first for the requests that follow. */
static void route_promote(fed_client *c, const char *name, int i)
{
	pthread_mutex_lock(&c->routes_lock);
	for (fed_route *r = c->routes; r; r = r->next) {
		if (strcmp(r->name, name) == 0 && i < r->to.n) {
			char first[320];
			memcpy(first, r->to.ct[i], sizeof(first));
			memmove(r->to.ct[1], r->to.ct[0], (size_t)i * sizeof(r->to.ct[0]));
			memcpy(r->to.ct[0], first, sizeof(first));
			break;
		}
	}
	pthread_mutex_unlock(&c->routes_lock);
}

static mxdb_status request(fed_client *c, const char *destination, const char *method,
                           const char *uri, const json_t *body, int sign, long *status,
                           json_t **resp, mxdb_error *err)
{
	char base[320];
	fed_targets to;
	*status = 0;
	if (resp)
		*resp = NULL;
	if (uri[0] != '/')
		return mx_fail(err, MXDB_EINVAL, "uri must start with /");
	mxdb_status st = resolve(c, destination, base, sizeof(base), &to, err);
	char *auth = NULL, *text = NULL, *url = NULL;
	size_t len;
	if (st == MXDB_OK && sign)
		st = fed_auth_header(c->key, c->server_name, destination, method, uri, body, &auth, err);
	if (st == MXDB_OK && body)
		st = cj_dump(body, &text, &len, err);
	if (st == MXDB_OK && asprintf(&url, "%s%s", base, uri) < 0) {
		url = NULL;
		st = mx_fail(err, MXDB_ENOMEM, "url");
	}
	/* RFC 2782: a target that cannot be reached makes way for the next. */
	for (int i = 0, next = 1; st == MXDB_OK && next; i++) {
		bool unreachable = false;
		st = perform(c, url, to.ct[i], method, auth, text, status, resp, NULL, &unreachable, err);
		next = st != MXDB_OK && unreachable && i + 1 < to.n;
		if (next)
			st = MXDB_OK;
		else if (st == MXDB_OK && i > 0)
			route_promote(c, destination, i);
	}
	free(url);
	free(text);
	free(auth);
	return st;
}

mxdb_status fed_request(fed_client *c, const char *destination, const char *method,
                        const char *uri, const json_t *body, long *status, json_t **resp,
                        mxdb_error *err)
{
	return request(c, destination, method, uri, body, 1, status, resp, err);
}

mxdb_status fed_request_unsigned(fed_client *c, const char *destination, const char *method,
                                 const char *uri, long *status, json_t **resp, mxdb_error *err)
{
	return request(c, destination, method, uri, NULL, 0, status, resp, err);
}
