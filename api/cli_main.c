/*
 * cli_main.c: the `mxdb` command-line tool's entry point: finds the
 * subcommand in the table and runs it. Owns the table and the helpers in
 * cli.h; each subcommand lives in its own cli_*.c file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cjson.h"
#include "mxdb.h"

static const cli_command commands[] = {
	{"canonical", cli_canonical, "canonical [--lines] < JSON"},
	{"sign", cli_sign, "sign --key FILE [--server NAME] [--lines] < JSON"},
	{"verify", cli_verify, "verify --server NAME --key-id ID --public-key B64 < JSON"},
	{"keygen", cli_keygen, "keygen FILE"},
	{"event-id", cli_event_id, "event-id [--room-version V] [--lines] < PDU"},
	{"stateres", cli_stateres, "stateres FILE.json"},
	{"register", cli_register, "register [--server URL] USER [--password P]"},
	{"login", cli_login, "login [--server URL] USER [--password P]"},
	{"table", cli_table, "table create NAME [--public] [--writer @USER[=LEVEL]]... | table info TABLE"},
	{"put", cli_put, "put TABLE TYPE KEY [JSON] [--if-match VERSION|*] [--if-none-match]"},
	{"get", cli_get, "get TABLE TYPE KEY [--etag]"},
	{"del", cli_del, "del TABLE TYPE KEY [--if-match VERSION|*]"},
	{"scan", cli_scan, "scan TABLE [--type T] [--prefix P] [--limit N]"},
	{"history", cli_history, "history TABLE TYPE KEY"},
	{"watch", cli_watch, "watch TABLE [--since SEQ] [--feed URL] [--count N] [--timeout MS] [--stats]"},
	{NULL, NULL, NULL},
};

char *cli_read_stdin(size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return NULL;
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, stdin);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(stdin)) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "mxdb %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

static int write_out(const char *p, size_t n)
{
	return fwrite(p, 1, n, stdout) == n ? 0 : -1;
}

int cli_run_docs(const char *cmd, int lines, cli_doc_fn fn, const void *ctx, int newline)
{
	size_t len;
	char *in = cli_read_stdin(&len);
	if (in == NULL)
		return cli_usage_error(cmd, "cannot read standard input");
	cj_buf out = {0};
	mxdb_error err;
	int rc = 0;
	if (!lines) {
		if (fn(in, len, &out, ctx, &err) != MXDB_OK)
			rc = cli_usage_error(cmd, "%s", err.message);
		else if (write_out(out.data, out.len) != 0 || (newline && putchar('\n') == EOF))
			rc = cli_usage_error(cmd, "cannot write standard output");
	} else {
		size_t lineno = 0;
		for (char *p = in, *end = in + len; p < end;) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
			lineno++;
			out.len = 0;
			if (fn(p, n, &out, ctx, &err) == MXDB_OK) {
				if (write_out(out.data, out.len) != 0)
					rc = 2;
				putchar('\n');
			} else {
				printf("error: %s\n", err.message);
				fprintf(stderr, "mxdb %s: line %zu: %s\n", cmd, lineno, err.message);
				rc = 2;
			}
			if (nl == NULL)
				break;
			p = nl + 1;
		}
	}
	if (fflush(stdout) != 0)
		rc = cli_usage_error(cmd, "cannot write standard output");
	cj_buf_free(&out);
	free(in);
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out, "mxdb %s: the mxdb command-line tool\n\nusage:\n", MXDB_VERSION);
	for (const cli_command *c = commands; c->name != NULL; c++)
		fprintf(out, "  mxdb %s\n", c->usage);
	fprintf(out, "  mxdb --version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("mxdb %s\n", MXDB_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (const cli_command *c = commands; c->name != NULL; c++)
		if (strcmp(c->name, argv[1]) == 0)
			return c->run(argc - 1, argv + 1);
	fprintf(stderr, "mxdb: unknown command '%s' (try mxdb --help)\n", argv[1]);
	return 2;
}
