/*
 * cli.h: the subcommands of the `mxdb` command-line tool. Each subcommand is
 * one function in a cli_*.c file, listed in the table of cli_main.c.
 * A subcommand returns the process exit status: 0 success, 1 a negative
 * answer (e.g. a signature that does not verify), 2 bad usage or input.
 */
#ifndef MX_CLI_H
#define MX_CLI_H

#include <stddef.h>

#include "cjson.h"

typedef int (*cli_fn)(int argc, char **argv); /* argv[0] is the subcommand name */

typedef struct cli_command {
	const char *name;
	cli_fn run;
	const char *usage;
} cli_command;

/* Reads all of stdin into a malloc'd NUL-terminated buffer; NULL on error. */
char *cli_read_stdin(size_t *len);
/* One document in (text, len bytes), its result appended to out. */
typedef mxdb_status (*cli_doc_fn)(const char *text, size_t len, cj_buf *out, const void *ctx,
                                  mxdb_error *err);
/* Runs fn over stdin: the whole of it as one document (its result, then a
 * newline if newline is set), or with lines set one document per line, one
 * result or "error: <why>" per output line. Returns the exit status. */
int cli_run_docs(const char *cmd, int lines, cli_doc_fn fn, const void *ctx, int newline);
/* Prints "mxdb <cmd>: <message>" to stderr and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_json.c */
int cli_canonical(int argc, char **argv);
int cli_sign(int argc, char **argv);
int cli_verify(int argc, char **argv);
int cli_keygen(int argc, char **argv);

/* cli_event.c */
int cli_event_id(int argc, char **argv);
/* cli_client.c, cli_watch.c: talking to a server (exit statuses in cli_http.h) */
int cli_register(int argc, char **argv);
int cli_login(int argc, char **argv);
int cli_table(int argc, char **argv);
int cli_put(int argc, char **argv);
int cli_get(int argc, char **argv);
int cli_del(int argc, char **argv);
int cli_scan(int argc, char **argv);
int cli_history(int argc, char **argv);
int cli_watch(int argc, char **argv);

/* cli_stateres.c */
int cli_stateres(int argc, char **argv);

#endif
