/*
 * watch_http.c: the remote catch-up source of the reliable subscriber: one
 * libcurl handle reading GET /_mxdb/v1/changes?since=SEQ from a server.
 * This is an outbound client of mxdb's own catch-up endpoint, not HTTP
 * serving: db/ still knows nothing of the server side. Owns the handle and
 * the response buffer; never retries on its own (the caller sees the error).
 */
#define _GNU_SOURCE /* asprintf */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "feed.h"

typedef struct http_src {
	CURL *curl;
	char *base;
	struct curl_slist *headers;
	char *body;
	size_t len, cap;
} http_src;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	http_src *h = arg;
	size_t add = size * n;
	if (h->len + add + 1 > h->cap) {
		size_t cap = (h->len + add + 1) * 2;
		char *nb = realloc(h->body, cap);
		if (nb == NULL)
			return 0; /* curl reports a write error */
		h->body = nb;
		h->cap = cap;
	}
	memcpy(h->body + h->len, data, add);
	h->len += add;
	h->body[h->len] = '\0';
	return add;
}

static mxdb_status http_since(void *src, uint64_t seq, const char *room, int limit, json_t **records,
                              watch_pos *pos, mxdb_error *err)
{
	http_src *h = src;
	char *url = NULL, *eroom = NULL;
	if (room != NULL && (eroom = curl_easy_escape(h->curl, room, 0)) == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	int n = asprintf(&url, "%s/_mxdb/v1/changes?since=%" PRIu64 "&limit=%d%s%s", h->base, seq, limit,
	                 eroom ? "&room=" : "", eroom ? eroom : "");
	curl_free(eroom);
	if (n < 0)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	h->len = 0;
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	CURLcode rc = curl_easy_perform(h->curl);
	free(url);
	if (rc != CURLE_OK)
		return mx_fail(err, MXDB_EIO, "catch-up from %s: %s", h->base, curl_easy_strerror(rc));
	long status = 0;
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	json_error_t je;
	json_t *doc = json_loadb(h->body ? h->body : "", h->len, JSON_REJECT_DUPLICATES, &je);
	if (status != 200) {
		const char *msg = json_string_value(json_object_get(doc, "error"));
		mxdb_status st = status == 404 ? MXDB_ENOTFOUND
		               : status == 403 || status == 401 ? MXDB_EFORBIDDEN : MXDB_EIO;
		mx_fail(err, st, "catch-up from %s: HTTP %ld%s%s", h->base, status, msg ? ": " : "",
		        msg ? msg : "");
		json_decref(doc);
		return st;
	}
	json_t *changes = json_object_get(doc, "changes");
	if (!json_is_array(changes) || !json_is_integer(json_object_get(doc, "head"))) {
		json_decref(doc);
		return mx_fail(err, MXDB_EIO, "catch-up from %s: not a changes answer", h->base);
	}
	*records = json_incref(changes);
	pos->head = feed_rec_u64(doc, "head");
	pos->next = feed_rec_u64(doc, "next");
	json_decref(doc);
	return MXDB_OK;
}

static void http_close(void *src)
{
	http_src *h = src;
	curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	free(h->base);
	free(h->body);
	free(h);
}

static const watch_source_ops http_ops = {http_since, http_close};

mxdb_status watch_http_source(const char *base_url, const char *token, void **src,
                              const watch_source_ops **ops, mxdb_error *err)
{
	if (base_url == NULL || *base_url == '\0')
		return mx_fail(err, MXDB_EINVAL, "watch: no server URL for catch-up");
	pthread_once(&curl_once, curl_init_once);
	http_src *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	h->curl = curl_easy_init();
	h->base = strdup(base_url);
	size_t bl = h->base ? strlen(h->base) : 0;
	while (bl > 0 && h->base[bl - 1] == '/')
		h->base[--bl] = '\0';
	char auth[1024];
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		h->headers = curl_slist_append(h->headers, auth);
	}
	h->headers = curl_slist_append(h->headers, "Accept: application/json");
	if (h->curl == NULL || h->base == NULL || h->headers == NULL) {
		http_close(h);
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	}
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 30L);
	*src = h;
	*ops = &http_ops;
	return MXDB_OK;
}
