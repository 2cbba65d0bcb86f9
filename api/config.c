/*
 * config.c: mxdbd's settings. One table lists every key with its type, its
 * place in struct cfg, its default and a line of help; the file parser and
 * the flag parser both go through cfg_set. Never opens anything but the
 * config file.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "err.h"

/* K_BOOL: a bare flag sets it ("--x"; "--x=false" and "x = false" in a
 * file clear it); K_LIST: each occurrence appends, ','-separated. */
enum kind { K_STR, K_UINT, K_ULONG, K_CHOICE, K_BOOL, K_LIST };

static const struct key {
	const char *name;
	enum kind kind;
	size_t off, size;
	const char *def;
	const char *choices; /* K_CHOICE: '|'-separated */
	const char *help;
} keys[] = {
#define S(f) offsetof(cfg, f), sizeof(((cfg *)0)->f)
	{"listen", K_STR, S(listen), "127.0.0.1:8008", NULL, "HTTP address HOST:PORT"},
	{"server_name", K_STR, S(server_name), "localhost:8008", NULL, "the Matrix server name"},
	{"data", K_STR, S(data), "./mxdb-data", NULL, "data directory (SQLite file, signing key)"},
	{"feed", K_STR, S(feed), "tcp://127.0.0.1:8009", NULL, "change-feed nng PUB URL"},
	{"log_level", K_CHOICE, S(log_level), "info", "error|warn|info|debug", "log level"},
	{"http_threads", K_UINT, S(http_threads), "16", NULL,
	 "HTTP worker threads (a request waiting for its commit holds one)"},
	{"max_connections", K_UINT, S(max_connections), "1024", NULL, "open HTTP connections at most"},
	{"connection_timeout", K_UINT, S(connection_timeout), "60", NULL,
	 "seconds before an idle connection is closed"},
	{"max_body_size", K_ULONG, S(max_body_size), "1048576", NULL, "request body limit in bytes"},
	{"registration", K_CHOICE, S(registration), "open", "open|closed", "who may register"},
	{"password_hash", K_CHOICE, S(password_hash), "interactive", "interactive|moderate|fast",
	 "Argon2id cost (fast: for tests only)"},
	{"room_version", K_STR, S(room_version), "", NULL, "version of new rooms (empty: newest)"},
	{"federation", K_BOOL, S(federation), "true", NULL, "serve and send Matrix federation"},
	{"tls_cert", K_STR, S(tls_cert), "", NULL, "PEM certificate: serve HTTPS"},
	{"tls_key", K_STR, S(tls_key), "", NULL, "PEM private key for --tls-cert"},
	{"federation_ca", K_STR, S(federation_ca), "", NULL, "CA file for peers (empty: system store)"},
	{"federation_plain_http", K_BOOL, S(federation_plain_http), "false", NULL,
	 "reach peers over http:// (local clusters)"},
	{"peer", K_LIST, S(peer), "", NULL, "NAME=HOST:PORT: where a server is (repeatable)"},
	{"trusted_key_server", K_LIST, S(trusted_key_server), "", NULL,
	 "NAME: a notary asked for keys a server does not give us (repeatable)"},
	{"old_signing_key", K_LIST, S(old_signing_key), "", NULL,
	 "FILE:EXPIRED_TS: a retired signing key, still published (repeatable)"},
	{"federation_listen", K_STR, S(federation_listen), "", NULL,
	 "separate HOST:PORT for federation (empty: the main listener)"},
	{"federation_max_gap_events", K_UINT, S(federation_max_gap_events), "2000", NULL,
	 "events fetched (get_missing_events) to close one gap, at most"},
	{"synchronous", K_CHOICE, S(synchronous), "full", "full|normal",
	 "full: writes survive power loss; normal: survive a crash of the process"},
#undef S
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key *find_key(const char *name, size_t n)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strlen(keys[i].name) != n)
			continue;
		size_t j = 0;
		for (; j < n; j++) {
			char c = name[j] == '-' ? '_' : name[j];
			if (c != keys[i].name[j])
				break;
		}
		if (j == n)
			return &keys[i];
	}
	return NULL;
}

static bool in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);
	for (const char *p = choices; *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && memcmp(p, v, n) == 0)
			return true;
		if (bar == NULL)
			break;
		p = bar + 1;
	}
	return false;
}

static mxdb_status set_key(cfg *c, const struct key *k, const char *v, mxdb_error *err)
{
	char *field = (char *)c + k->off;
	char *end;
	unsigned long long n;
	switch (k->kind) {
	case K_CHOICE:
		if (!in_choices(k->choices, v))
			return mx_fail(err, MXDB_EINVAL, "%s must be one of %s", k->name, k->choices);
		/* fall through */
	case K_STR:
		if (strlen(v) >= k->size)
			return mx_fail(err, MXDB_EINVAL, "%s is too long", k->name);
		memcpy(field, v, strlen(v) + 1);
		return MXDB_OK;
	case K_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
			*(bool *)field = true;
		else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
			*(bool *)field = false;
		else
			return mx_fail(err, MXDB_EINVAL, "%s must be true or false", k->name);
		return MXDB_OK;
	case K_LIST:
		if (strlen(field) + strlen(v) + 2 > k->size)
			return mx_fail(err, MXDB_EINVAL, "too many %s entries", k->name);
		if (*v != '\0' && *field != '\0')
			strcat(field, ",");
		strcat(field, v);
		return MXDB_OK;
	case K_UINT:
	case K_ULONG:
		errno = 0;
		n = strtoull(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || *v == '-' || n == 0 ||
		    (k->kind == K_UINT && n > 1000000))
			return mx_fail(err, MXDB_EINVAL, "%s must be a positive integer", k->name);
		if (k->kind == K_UINT)
			*(unsigned *)field = (unsigned)n;
		else
			*(unsigned long *)field = (unsigned long)n;
		return MXDB_OK;
	}
	return MXDB_EINTERNAL;
}

mxdb_status cfg_set(cfg *c, const char *key, const char *value, mxdb_error *err)
{
	const struct key *k = find_key(key, strlen(key));
	if (k == NULL)
		return mx_fail(err, MXDB_EINVAL, "unknown setting '%s'", key);
	return set_key(c, k, value, err);
}

void cfg_defaults(cfg *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++)
		set_key(c, &keys[i], keys[i].def, NULL);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

mxdb_status cfg_load_file(cfg *c, const char *path, mxdb_error *err)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return mx_fail(err, MXDB_EIO, "cannot open %s: %s", path, strerror(errno));
	char line[2048];
	int lineno = 0;
	mxdb_status st = MXDB_OK;
	while (st == MXDB_OK && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			st = mx_fail(err, MXDB_EINVAL, "%s:%d: expected key = value", path, lineno);
			break;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		size_t vn = strlen(val);
		if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') {
			val[vn - 1] = '\0';
			val++;
		}
		mxdb_error e;
		if (cfg_set(c, key, val, &e) != MXDB_OK)
			st = mx_fail(err, e.code, "%s:%d: %s", path, lineno, e.message);
	}
	fclose(f);
	return st;
}

mxdb_status cfg_from_args(cfg *c, int argc, char **argv, mxdb_error *err)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			mxdb_status st = cfg_load_file(c, argv[i + 1], err);
			if (st != MXDB_OK)
				return st;
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			mxdb_status st = cfg_load_file(c, argv[i] + 9, err);
			if (st != MXDB_OK)
				return st;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			return mx_fail(err, MXDB_EINVAL, "unexpected argument '%s'", a);
		a += 2;
		const char *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const struct key *bk = find_key(a, n);
		if (bk != NULL && bk->kind == K_BOOL && eq == NULL) {
			*(bool *)((char *)c + bk->off) = true; /* a bare flag */
			continue;
		}
		const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
		if (val == NULL)
			return mx_fail(err, MXDB_EINVAL, "--%.*s needs a value", (int)n, a);
		if (eq == NULL)
			i++;
		if (n == 6 && strncmp(a, "config", 6) == 0)
			continue;
		const struct key *k = find_key(a, n);
		if (k == NULL)
			return mx_fail(err, MXDB_EINVAL, "unknown flag --%.*s", (int)n, a);
		mxdb_status st = set_key(c, k, val, err);
		if (st != MXDB_OK)
			return st;
	}
	return MXDB_OK;
}

mxdb_status cfg_listen_addr(const cfg *c, char *host, size_t cap, int *port, mxdb_error *err)
{
	const char *colon = strrchr(c->listen, ':');
	if (colon == NULL || colon == c->listen || (size_t)(colon - c->listen) >= cap)
		return mx_fail(err, MXDB_EINVAL, "listen must be HOST:PORT, not '%s'", c->listen);
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
		return mx_fail(err, MXDB_EINVAL, "bad port in '%s'", c->listen);
	memcpy(host, c->listen, (size_t)(colon - c->listen));
	host[colon - c->listen] = '\0';
	*port = (int)p;
	return MXDB_OK;
}

void cfg_usage(void *file)
{
	FILE *f = file;
	fprintf(f, "usage: mxdbd [--config FILE] [--KEY VALUE]...\n\nkeys (flag, default):\n");
	for (size_t i = 0; i < NKEYS; i++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s", keys[i].name);
		for (char *p = flag + 2; *p; p++)
			if (*p == '_')
				*p = '-';
		fprintf(f, "  %-22s %-24s %s\n", flag, keys[i].def[0] ? keys[i].def : "\"\"", keys[i].help);
	}
}
