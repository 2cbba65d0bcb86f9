/*
 * cli_http.h: what the `mxdb` client subcommands share: the server URL and
 * access token (options, environment, the credentials file), one HTTP
 * request through libcurl, and the mapping of answers to exit statuses.
 */
#ifndef MX_CLI_HTTP_H
#define MX_CLI_HTTP_H

#include <stddef.h>
#include <jansson.h>

/* Exit statuses of the client subcommands (docs/cli.md). */
enum {
	CLI_OK = 0,
	CLI_NEGATIVE = 1, /* not found (404) or condition failed (412) */
	CLI_USAGE = 2,    /* bad usage or bad input (400) */
	CLI_FAILED = 3,   /* network error, server error, anything else */
	CLI_DENIED = 4,   /* 401/403: not logged in, or not allowed */
};

#define CLI_DEFAULT_SERVER "http://127.0.0.1:8008"

typedef struct cli_conn {
	const char *cmd;     /* for messages: "mxdb put: ..." */
	char server[1024];   /* no trailing slash */
	char token[1024];    /* "" when none */
	char user_id[512];
} cli_conn;

typedef struct cli_resp {
	long status;         /* 0 when the request did not get through */
	char *body;          /* NUL-terminated (free) */
	size_t len;
	char etag[512];      /* the ETag header without quotes, "" if none */
	json_t *json;        /* body parsed when it is JSON, else NULL */
} cli_resp;

/* The common options every client subcommand takes. getopt_long entries
 * and their handler: returns 1 when opt was one of them. */
#define CLI_CONN_OPTIONS {"server", required_argument, NULL, 'S'}, {"token", required_argument, NULL, 'T'}
int cli_conn_option(cli_conn *c, int opt, const char *arg);

/* Fills server and token from, in order: options already given, the
 * environment (MXDB_SERVER, MXDB_TOKEN), the credentials file, defaults. */
void cli_conn_init(cli_conn *c, const char *cmd);
void cli_conn_finish(cli_conn *c);

/* One request. path is already escaped; body may be NULL; extra headers is a
 * NULL-terminated list or NULL. Returns 0 when an answer came back. */
int cli_request(const cli_conn *c, const char *method, const char *path, const char *body,
                const char *const *headers, cli_resp *out);
void cli_resp_free(cli_resp *r);

/* Prints the server's error ("mxdb put: M_CONDITION_FAILED: ...") and
 * returns the exit status for the answer (CLI_OK for 2xx). */
int cli_status(const cli_conn *c, const cli_resp *r);


/* Saves server, user_id and token to the credentials file (mode 0600). */
int cli_save_credentials(const cli_conn *c);
/* The credentials file's path into buf. */
int cli_credentials_path(char *buf, size_t cap);

#endif
