/*
 * live-doc: the core of a collaborative editor (README.md). A document is
 * a table; each paragraph is a row (type com.example.para, key = the
 * paragraph's ID, value {"text", "author", "order"}). Every editor writes
 * its own edits over HTTP and sees everyone's edits live through the change
 * feed (mxdb_watch: nng, with catch-up so nothing is missed), keeping its
 * copy of the document in a local map of paragraphs.
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mxdb.h"

static const char *server = "http://127.0.0.1:8008", *token, *doc, *name = "editor";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t keep(char *p, size_t s, size_t n, void *u)
{
	json_t **out = u;
	json_decref(*out);
	*out = json_loadb(p, s * n, 0, NULL); /* small answers come in one piece */
	return s * n;
}

/* One request; the JSON answer (or NULL) through out. Returns the status. */
static long call(CURL *c, const char *method, const char *path, const char *body, json_t **out)
{
	char url[2048], auth[1100];
	snprintf(url, sizeof(url), "%s%s", server, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	struct curl_slist *h = curl_slist_append(NULL, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	json_t *ans = NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	else
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &ans);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	if (out)
		*out = ans;
	else
		json_decref(ans);
	return status;
}

/* Paragraphs of the document written by us (mine) or by the others. */
static int count_by(json_t *paras, bool mine)
{
	const char *k;
	json_t *v;
	int n = 0;
	json_object_foreach(paras, k, v) {
		const char *author = json_string_value(json_object_get(v, "author"));
		n += author != NULL && (strcmp(author, name) == 0) == mine;
	}
	return n;
}

int main(int argc, char **argv)
{
	int edits = 5, peer_edits = 0, timeout_s = 30;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--server")) server = v;
		else if (!strcmp(k, "--token")) token = v;
		else if (!strcmp(k, "--doc")) doc = v;
		else if (!strcmp(k, "--name")) name = v;
		else if (!strcmp(k, "--edits")) edits = atoi(v);
		else if (!strcmp(k, "--peer-edits")) peer_edits = atoi(v);
		else if (!strcmp(k, "--timeout")) timeout_s = atoi(v);
	}
	if (token == NULL || doc == NULL) {
		fprintf(stderr, "usage: %s --token T --doc TABLE --name NAME [--server URL] [--edits N] "
		                "[--peer-edits M] [--timeout S]\n", argv[0]);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *c = curl_easy_init();
	char *edoc = curl_easy_escape(c, doc, 0), path[2048];
	snprintf(path, sizeof(path), "/_mxdb/v1/tables/%s", edoc);
	json_t *info = NULL;
	if (call(c, "GET", path, NULL, &info) != 200) {
		fprintf(stderr, "%s: no such document (or no access)\n", doc);
		return 1;
	}
	/* The position, then the feed from that position, then the snapshot:
	 * every change after the position comes through the watch (a change
	 * already in the snapshot comes again and is applied again: harmless,
	 * applying a row's value is idempotent). */
	json_t *feed = NULL;
	call(c, "GET", "/_mxdb/v1/feed", NULL, &feed);
	mxdb_watch_options o = {
		.feed_url = json_string_value(json_object_get(info, "feed")),
		.room = json_string_value(json_object_get(info, "room_id")),
		.since = (uint64_t)json_integer_value(json_object_get(feed, "seq")),
		.server = server,
		.token = token,
	};
	json_decref(feed);
	mxdb_watch *w;
	mxdb_error err;
	if (mxdb_watch_open(&o, &w, &err) != MXDB_OK) {
		fprintf(stderr, "watch: %s\n", err.message);
		return 1;
	}
	json_t *paras = json_object(), *page = NULL; /* our copy of the document */
	char spath[2300];
	snprintf(spath, sizeof(spath), "%s/rows?type=com.example.para&limit=1000", path);
	if (call(c, "GET", spath, NULL, &page) == 200) { /* one page: a small document */
		size_t i;
		json_t *row;
		json_array_foreach(json_object_get(page, "rows"), i, row)
			json_object_set(paras, json_string_value(json_object_get(row, "key")), json_object_get(row, "content"));
	}
	json_decref(page);
	int written = 0, seen_peer = count_by(paras, false), seen_mine = count_by(paras, true);
	double next_edit = now_s(), deadline = now_s() + timeout_s;
	/* until our edits are written and back through the feed, and the
	 * others' are all here */
	while (now_s() < deadline && (written < edits || seen_mine < edits || seen_peer < peer_edits)) {
		if (written < edits && now_s() >= next_edit) {
			char key[128], body[256], epath[2300];
			snprintf(key, sizeof(key), "%s-%d", name, written);
			snprintf(body, sizeof(body), "{\"text\":\"paragraph %d by %s\",\"author\":\"%s\",\"order\":%d}",
			         written, name, name, written);
			snprintf(epath, sizeof(epath), "%s/rows/com.example.para/%s", path, key);
			if (call(c, "PUT", epath, body, NULL) != 200)
				fprintf(stderr, "%s: edit %d failed\n", name, written);
			written++;
			next_edit = now_s() + 0.05;
		}
		const mxdb_change *ch;
		if (mxdb_watch_next(w, 20, &ch, &err) != MXDB_OK) {
			fprintf(stderr, "watch: %s\n", err.message);
			break;
		}
		if (ch == NULL || strcmp(ch->type, "com.example.para") != 0)
			continue;
		json_t *v = ch->content ? json_loads(ch->content, 0, NULL) : NULL;
		const char *author = json_string_value(json_object_get(v, "author"));
		bool mine = author != NULL && strcmp(author, name) == 0;
		if (v != NULL)
			json_object_set(paras, ch->key, v);
		else
			json_object_del(paras, ch->key);
		seen_peer = count_by(paras, false);
		seen_mine = count_by(paras, true);
		if (!mine) {
			printf("[%s] sees %s: %s\n", name, ch->key,
			       json_string_value(json_object_get(v, "text")) ?: "(deleted)");
			fflush(stdout);
		}
		json_decref(v);
	}
	printf("[%s] wrote %d, has %d paragraphs by others; the document has %zu paragraphs\n", name, written,
	       seen_peer, json_object_size(paras));
	int rc = written == edits && seen_mine >= edits && seen_peer >= peer_edits ? 0 : 1;
	json_decref(paras);
	json_decref(info);
	mxdb_watch_close(w);
	curl_free(edoc);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return rc;
}
