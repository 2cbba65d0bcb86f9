/* test_fed_sender.c: the sender against a real HTTP destination on
 * 127.0.0.1 that fails on purpose, goes away, and comes back: every queued
 * PDU arrives exactly once (per txn ID), in order, across a sender restart. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fed_sender.h"
#include "fed_store.h"
#include "testutil.h"

#define MAX_ITEMS 1000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int fail_next;              /* answer 500 to this many requests */
static int applied[MAX_ITEMS], n_applied, requests, bad_requests, announcements;
static char seen_txn[200][64];
static int n_seen_txn;

typedef struct upload {
	char *buf;
	size_t len;
} upload;

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **ctx)
{
	if (*ctx == NULL) {
		*ctx = calloc(1, sizeof(upload));
		return MHD_YES;
	}
	upload *u = *ctx;
	if (*size) {
		u->buf = realloc(u->buf, u->len + *size + 1);
		memcpy(u->buf + u->len, data, *size);
		u->len += *size;
		u->buf[u->len] = '\0';
		*size = 0;
		return MHD_YES;
	}
	unsigned status = 200;
	pthread_mutex_lock(&mu);
	requests++;
	const char *txn = strncmp(url, "/_matrix/federation/v1/send/", 28) == 0 ? url + 28 : NULL;
	json_t *body = u->buf ? json_loadb(u->buf, u->len, 0, NULL) : NULL;
	if (strcmp(url, "/_matrix/federation/v1/version") == 0 &&
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization") != NULL) {
		announcements++; /* a (re)started sender saying it is back */
	} else if (fail_next > 0) {
		fail_next--;
		status = 500;
	} else if (txn == NULL || strcmp(method, "PUT") != 0 || body == NULL ||
	           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization") == NULL ||
	           strcmp(json_string_value(json_object_get(body, "origin")), "a.test") != 0) {
		bad_requests++;
		status = 400;
	} else {
		int dup = 0;
		for (int i = 0; i < n_seen_txn; i++)
			dup |= strcmp(seen_txn[i], txn) == 0;
		if (!dup && n_seen_txn < 200) {
			snprintf(seen_txn[n_seen_txn++], 64, "%s", txn);
			json_t *pdu;
			size_t k;
			json_array_foreach(json_object_get(body, "pdus"), k, pdu) {
				if (n_applied < MAX_ITEMS)
					applied[n_applied++] = (int)json_integer_value(json_object_get(pdu, "i"));
			}
			if (json_array_size(json_object_get(body, "pdus")) > 50)
				bad_requests++;
		}
	}
	pthread_mutex_unlock(&mu);
	json_decref(body);
	free(u->buf);
	free(u);
	*ctx = NULL;
	const char *text = status == 200 ? "{\"pdus\":{}}" : "{\"errcode\":\"M_UNKNOWN\",\"error\":\"no\"}";
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static struct MHD_Daemon *serve(int port)
{
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                         .sin_port = htons((uint16_t)port)};
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
	                        NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &lo, MHD_OPTION_END);
}

static void push_range(const char *path, int from, int to)
{
	sqlite3 *db;
	mxdb_error err;
	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	fed_store_exec(db, "BEGIN", &err);
	for (int i = from; i < to; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"i\":%d}", i);
		CHECK(fed_queue_push(db, "b.test", FED_ITEM_PDU, body, &err) == MXDB_OK);
	}
	fed_store_exec(db, "COMMIT", &err);
	sqlite3_close(db);
}

/* Waits (bounded) until n items were applied. */
static int wait_applied(int n, int max_ms)
{
	for (int t = 0; t < max_ms; t += 10) {
		pthread_mutex_lock(&mu);
		int have = n_applied;
		pthread_mutex_unlock(&mu);
		if (have >= n)
			return 1;
		usleep(10000);
	}
	return 0;
}

static long long queued(const char *path)
{
	sqlite3 *db;
	mxdb_error err;
	long long n = -1;
	if (fed_store_open(path, &db, &err) == MXDB_OK)
		fed_queue_length(db, "b.test", &n, &err);
	sqlite3_close(db);
	return n;
}

/* The receiver counts a transaction before the sender, on its 200, takes
 * it off the queue: wait (bounded) for the queue to reach n. */
static int wait_queued(const char *path, long long n, int max_ms)
{
	for (int t = 0; t < max_ms; t += 10) {
		if (queued(path) == n)
			return 1;
		usleep(10000);
	}
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/test_fed_sender_XXXXXX", path[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/mxdb.sqlite3", dir);
	mx_key key;
	mxdb_error err;
	CHECK(key_generate(&key, &err) == MXDB_OK);

	struct MHD_Daemon *d = serve(0);
	CHECK(d != NULL);
	if (d == NULL)
		return test_summary("test_fed_sender");
	int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	fed_client *c = NULL;
	fed_client_config ccfg = {.server_name = "a.test", .key = &key, .plain_http = 1,
	                          .timeout_ms = 2000};
	CHECK(fed_client_new(&ccfg, &c, &err) == MXDB_OK);
	char peer[64];
	snprintf(peer, sizeof(peer), "b.test=127.0.0.1:%d", port);
	CHECK(fed_client_add_peer(c, peer, &err) == MXDB_OK);

	/* 1. Two failures, then everything in order, each transaction once. */
	fail_next = 2;
	push_range(path, 0, 260);
	fed_sender_config scfg = {.db_path = path, .client = c, .origin = "a.test",
	                          .backoff = {.initial_ms = 50, .cap_ms = 200}};
	fed_sender *s = NULL;
	CHECK(fed_sender_start(&scfg, &s, &err) == MXDB_OK);
	fed_sender_kick(s);
	CHECK(wait_applied(260, 10000));
	CHECK(wait_queued(path, 0, 5000));
	pthread_mutex_lock(&mu);
	CHECK(requests >= 2 + 6); /* 260 PDUs need 6 transactions */
	pthread_mutex_unlock(&mu);

	/* 2. The destination goes away; more is queued; the sender stops while
	 * failing; a new sender (a restarted daemon) delivers it all. */
	MHD_stop_daemon(d);
	push_range(path, 260, 380);
	fed_sender_kick(s);
	usleep(300 * 1000);
	CHECK(queued(path) == 120);
	fed_sender_stop(s);
	d = serve(port);
	CHECK(d != NULL);
	int before = announcements;
	CHECK(fed_sender_start(&scfg, &s, &err) == MXDB_OK);
	fed_sender_peer_alive(s, "b.test");
	CHECK(wait_applied(380, 10000));
	/* It knew b.test, so it said hello (on a thread of its own: wait). */
	int said = 0;
	for (int t = 0; t < 500 && !said; t++) {
		pthread_mutex_lock(&mu);
		said = announcements > before;
		pthread_mutex_unlock(&mu);
		if (!said)
			usleep(10000);
	}
	CHECK(said);

	/* 3. A late push is picked up by a kick alone. */
	push_range(path, 380, 381);
	fed_sender_kick(s);
	CHECK(wait_applied(381, 5000));
	CHECK(wait_queued(path, 0, 5000));
	fed_sender_stop(s);

	pthread_mutex_lock(&mu);
	int out_of_order = 0;
	for (int i = 0; i < n_applied; i++)
		out_of_order += applied[i] != i;
	CHECK_MSG(n_applied == 381 && out_of_order == 0, "%d applied, %d out of order", n_applied,
	          out_of_order);
	CHECK(bad_requests == 0);
	pthread_mutex_unlock(&mu);

	MHD_stop_daemon(d);
	fed_client_free(c);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return test_summary("test_fed_sender");
}
