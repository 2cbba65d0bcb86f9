/*
 * config.h: mxdbd's settings: defaults, the `key = value` config file and
 * the command-line flags (the same keys). Owns the table of keys; the keys
 * and their defaults are documented in docs/configuration.md.
 */
#ifndef MX_CONFIG_H
#define MX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mxdb.h"

typedef struct cfg {
	char listen[256];        /* HOST:PORT */
	char server_name[256];
	char data[1024];
	char feed[256];
	char log_level[16];
	unsigned http_threads;
	unsigned max_connections;
	unsigned connection_timeout; /* seconds */
	unsigned long max_body_size; /* bytes */
	char registration[16];   /* "open" or "closed" */
	char password_hash[16];  /* "interactive", "moderate" or "fast" */
	char room_version[16];   /* default version of new rooms ("" = engine default) */
	/* Federation (docs/replication.md). */
	char tls_cert[1024], tls_key[1024]; /* PEM files for serving HTTPS */
	char federation_ca[1024];  /* CA file for peers' certificates ("" = system store) */
	bool federation_plain_http; /* peers over http:// */
	char peer[4096];           /* NAME=HOST:PORT entries, ','-separated (--peer repeats) */
	char trusted_key_server[2048]; /* notaries, ','-separated (repeatable flag) */
	char old_signing_key[4096];  /* FILE:EXPIRED_TS entries, ','-separated */
	char federation_listen[256]; /* separate HOST:PORT for federation ("" = main listener) */
	bool federation;           /* serve and send federation at all */
	unsigned federation_max_gap_events; /* events fetched to close one gap in a room's graph */
	char synchronous[16];    /* "full" or "normal" (mxdb_sync) */
} cfg;

void cfg_defaults(cfg *c);
/* Sets one key from text; fails for an unknown key or a bad value. */
mxdb_status cfg_set(cfg *c, const char *key, const char *value, mxdb_error *err);
/* Reads a config file: `key = value` lines, '#' comments, blank lines. */
mxdb_status cfg_load_file(cfg *c, const char *path, mxdb_error *err);
/* Applies argv: --config FILE first (wherever it is), then every
 * --key VALUE / --key=VALUE flag (dashes and underscores are the same). */
mxdb_status cfg_from_args(cfg *c, int argc, char **argv, mxdb_error *err);
/* Splits listen into host and port. */
mxdb_status cfg_listen_addr(const cfg *c, char *host, size_t cap, int *port, mxdb_error *err);
/* Prints the usage text. */
void cfg_usage(void *file);

#endif
