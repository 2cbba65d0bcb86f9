/*
 * mxdbd.c: the mxdb daemon: reads its settings (flags, config file), opens
 * the database (creating the data directory and signing key on first start)
 * and the accounts, serves the Matrix client API over HTTP, and shuts down
 * cleanly on SIGINT/SIGTERM: parked long-polls answered, in-flight requests
 * finished, queued writes committed, everything closed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>

#include "acct.h"
#include "config.h"
#include "cs.h"
#include "fed_service.h"
#include "http.h"
#include "log.h"
#include "mxdb.h"
#include "table.h"

/* Argon2id costs by config name: libsodium's interactive and moderate
 * limits, and "fast" (the minimum) for tests and benchmarks. */
static void set_hash_cost(acct_db *a, const char *name)
{
	if (strcmp(name, "fast") == 0)
		acct_set_hash_cost(a, 1, 8192);
	else if (strcmp(name, "moderate") == 0)
		acct_set_hash_cost(a, crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE);
}

/* How the federation handlers find the service from the HTTP app. */
static fed_service *fed_from_cs(void *app)
{
	return ((cs_ctx *)app)->fed;
}

/* Typing and read receipts from other servers, into the client API. */
static void fed_typing(void *ctx, const char *room_id, const char *user_id, bool typing)
{
	cs_ctx *cs = ctx;
	if (cs_typing_set(cs->typing, room_id, user_id, typing, 30000))
		http_wake(cs->http);
}

static void fed_receipt(void *ctx, const char *room_id, const char *user_id, const char *event_id,
                        const char *thread_id)
{
	cs_ctx *cs = ctx;
	if (acct_receipt_put(cs->acct, room_id, user_id, "m.read", event_id, thread_id, NULL) == MXDB_OK)
		http_wake(cs->http);
}

/* Federation: the service, its routes on the main listener, or on a
 * listener of its own (--federation-listen). */
static mxdb_status start_federation(const cfg *c, cs_ctx *cs, const http_config *main_hc,
                                    http_server **own, mxdb_error *e)
{
	fed_options fo = {.plain_http = c->federation_plain_http,
	                  .ca_file = c->federation_ca[0] ? c->federation_ca : NULL,
	                  .peers = c->peer, .notaries = c->trusted_key_server,
	                  .old_keys = c->old_signing_key,
	                  .max_gap_events = c->federation_max_gap_events};
	mxdb_status s = fed_start(cs->db, c->data, &fo, &cs->fed, e);
	if (s != MXDB_OK)
		return s;
	cs->fed->acct = cs->acct;
	cs->fed->on_typing = fed_typing;
	cs->fed->on_receipt = fed_receipt;
	cs->fed->edu_ctx = cs;
	fed_of = fed_from_cs;
	if (c->federation_listen[0] == '\0') {
		http_add_routes(cs->http, &fed_routes);
		http_add_routes(cs->http, &fed_key_routes);
		return MXDB_OK;
	}
	cfg fl = *c;
	char host[256];
	int port;
	snprintf(fl.listen, sizeof(fl.listen), "%s", c->federation_listen);
	if ((s = cfg_listen_addr(&fl, host, sizeof(host), &port, e)) != MXDB_OK)
		return s;
	http_config hc = *main_hc;
	hc.host = host;
	hc.port = port;
	if ((s = http_new(own, &hc, e)) != MXDB_OK)
		return s;
	http_add_routes(*own, &fed_routes);
	http_add_routes(*own, &fed_key_routes);
	return http_start(*own, e);
}

/* A whole (PEM) file as a string, or NULL with a log line. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t n = 0;
	if (f == NULL) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	FILE *mem = open_memstream(&text, &n);
	char chunk[4096];
	size_t got;
	while (mem && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, got, mem);
	if (mem)
		fclose(mem);
	fclose(f);
	return text;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	log_error("cannot create the data directory %s: %s", path, strerror(errno));
	return -1;
}

int main(int argc, char **argv)
{
	cfg c;
	mxdb_error e;
	cfg_defaults(&c);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			cfg_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("mxdbd %s\n", MXDB_VERSION);
			return 0;
		}
	}
	if (cfg_from_args(&c, argc, argv, &e) != MXDB_OK) {
		fprintf(stderr, "mxdbd: %s (try --help)\n", e.message);
		return 2;
	}
	log_set_level((enum log_level)log_level_parse(c.log_level));
	char host[256];
	int port;
	if (cfg_listen_addr(&c, host, sizeof(host), &port, &e) != MXDB_OK) {
		fprintf(stderr, "mxdbd: %s\n", e.message);
		return 2;
	}
	/* Signals go to the main thread only: block them before threads start. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (make_dir(c.data) != 0)
		return 1;
	mxdb_options opt = {.server_name = c.server_name,
	                    .room_version = c.room_version[0] ? c.room_version : NULL,
	                    .synchronous = strcmp(c.synchronous, "normal") == 0 ? MXDB_SYNC_NORMAL
	                                                                       : MXDB_SYNC_FULL};
	cs_ctx cs = {.server_name = c.server_name,
	             .registration_open = strcmp(c.registration, "open") == 0};
	int rc = 1;
	http_server *fed_http = NULL;
	char *tls_cert = NULL, *tls_key = NULL;
	mxdb_feed *feed = NULL;
	if (mxdb_open(c.data, &opt, &cs.db, &e) != MXDB_OK) {
		log_error("cannot open the database in %s: %s", c.data, e.message);
		return 1;
	}
	if (acct_open(&cs.acct, mxdb_sqlite_path(cs.db), c.server_name, &e) != MXDB_OK) {
		log_error("cannot open the accounts: %s", e.message);
		goto out;
	}
	set_hash_cost(cs.acct, c.password_hash);
	if (c.tls_cert[0] || c.tls_key[0]) {
		if (!c.tls_cert[0] || !c.tls_key[0] || (tls_cert = read_file(c.tls_cert)) == NULL ||
		    (tls_key = read_file(c.tls_key)) == NULL) {
			log_error("HTTPS needs both --tls-cert and --tls-key, readable");
			goto out;
		}
	}
	http_config hc = {.host = host,
	                  .tls_cert_pem = tls_cert,
	                  .tls_key_pem = tls_key,
	                  .port = port,
	                  .threads = c.http_threads,
	                  .conn_limit = c.max_connections,
	                  .timeout_s = c.connection_timeout,
	                  .body_limit = c.max_body_size,
	                  .auth = cs_auth,
	                  .app = &cs};
	if (http_new(&cs.http, &hc, &e) != MXDB_OK || cs_init(&cs, &e) != MXDB_OK) {
		log_error("%s", e.message);
		goto out;
	}
	http_add_routes(cs.http, &cs_client_routes);
	http_add_routes(cs.http, &cs_wellknown_routes);
	if (c.federation && start_federation(&c, &cs, &hc, &fed_http, &e) != MXDB_OK) {
		log_error("federation: %s", e.message);
		goto out;
	}
	http_add_routes(cs.http, &tbl_routes);
	if (c.feed[0] && mxdb_feed_open(cs.db, c.feed, &feed, &e) != MXDB_OK) {
		log_error("change feed: %s", e.message);
		goto out;
	}
	tbl_set_feed_url(c.feed);
	if (http_start(cs.http, &e) != MXDB_OK) {
		log_error("%s", e.message);
		goto out;
	}
	printf("mxdbd %s listening on %s://%s:%d (server name %s, data %s, feed %s)\n", MXDB_VERSION,
	       tls_cert ? "https" : "http", host, http_port(cs.http), c.server_name, c.data,
	       c.feed[0] ? c.feed : "off");
	fflush(stdout);
	int sig = 0;
	sigwait(&sigs, &sig);
	log_info("signal %d: shutting down", sig);
	rc = 0;
out:
	cs_quiesce(&cs);
	http_stop(fed_http);
	http_stop(cs.http);
	cs.http = NULL;
	fed_stop(cs.fed);
	cs.fed = NULL;
	cs_fini(&cs);
	mxdb_feed_close(feed);
	acct_close(cs.acct);
	mxdb_close(cs.db);
	free(tls_cert);
	free(tls_key);
	return rc;
}
