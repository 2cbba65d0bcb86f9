/*
 * cli_client.c: the `mxdb` subcommands that talk to a server: register,
 * login, table, put, get, del, scan, history (docs/cli.md). Owns their
 * options and output; the HTTP plumbing is cli_http.c, `watch` is
 * cli_watch.c. Results go to stdout (one JSON document, or one JSON line per
 * row), messages to stderr, and the exit status says what happened.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_http.h"
#include "url.h"

/* ---- accounts ---- */

/* The password: --password, else $MXDB_PASSWORD, else the first line of stdin. */
static char *read_password(const char *given)
{
	if (given != NULL)
		return strdup(given);
	if (getenv("MXDB_PASSWORD") != NULL)
		return strdup(getenv("MXDB_PASSWORD"));
	char line[1024];
	if (fgets(line, sizeof(line), stdin) == NULL)
		return NULL;
	line[strcspn(line, "\r\n")] = '\0';
	return strdup(line);
}

/* register and login: the same exchange with different bodies. */
static int account(int argc, char **argv, int is_register)
{
	cli_conn c = {0};
	const char *password_arg = NULL;
	static const struct option opts[] = {CLI_CONN_OPTIONS, {"password", required_argument, NULL, 'p'},
	                                     {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (o == 'p')
			password_arg = optarg;
		else if (!cli_conn_option(&c, o, optarg))
			return CLI_USAGE;
	if (optind + 1 != argc)
		return cli_usage_error(argv[0], "expected one user name");
	const char *user = argv[optind];
	char *password = read_password(password_arg);
	if (password == NULL || !*password) {
		free(password);
		return cli_usage_error(argv[0], "no password (--password, MXDB_PASSWORD or stdin)");
	}
	cli_conn_init(&c, argv[0]);
	c.token[0] = '\0'; /* never send an old token when asking for a new one */
	json_t *req = is_register
		? json_pack("{ss ss s{ss}}", "username", user, "password", password, "auth", "type",
		            "m.login.dummy")
		: json_pack("{ss s{ss ss} ss}", "type", "m.login.password", "identifier", "type", "m.id.user",
		            "user", user, "password", password);
	free(password);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	cli_resp r;
	int rc = CLI_FAILED;
	if (cli_request(&c, "POST", is_register ? "/_matrix/client/v3/register" : "/_matrix/client/v3/login",
	                body, NULL, &r) == 0 &&
	    (rc = cli_status(&c, &r)) == CLI_OK) {
		const char *token = json_string_value(json_object_get(r.json, "access_token"));
		const char *uid = json_string_value(json_object_get(r.json, "user_id"));
		if (token == NULL || uid == NULL) {
			fprintf(stderr, "mxdb %s: the server answered no access token\n", argv[0]);
			rc = CLI_FAILED;
		} else {
			snprintf(c.token, sizeof(c.token), "%s", token);
			snprintf(c.user_id, sizeof(c.user_id), "%s", uid);
			char path[1024] = "";
			cli_credentials_path(path, sizeof(path));
			if (cli_save_credentials(&c) != 0) {
				fprintf(stderr, "mxdb %s: cannot write %s\n", argv[0], path);
				rc = CLI_FAILED;
			} else {
				printf("%s\n", uid);
			}
		}
	}
	cli_resp_free(&r);
	free(body);
	cli_conn_finish(&c);
	return rc;
}

int cli_register(int argc, char **argv)
{
	return account(argc, argv, 1);
}

int cli_login(int argc, char **argv)
{
	return account(argc, argv, 0);
}

/* ---- tables ---- */

static int table_create(cli_conn *c, int argc, char **argv)
{
	const char *visibility = "private";
	json_t *writers = json_object();
	static const struct option opts[] = {CLI_CONN_OPTIONS, {"public", no_argument, NULL, 'P'},
	                                     {"writer", required_argument, NULL, 'w'}, {NULL, 0, NULL, 0}};
	int o, rc;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'P') {
			visibility = "public";
		} else if (o == 'w') {
			/* @user:server or @user:server=LEVEL (default 50) */
			char *eq = strrchr(optarg, '=');
			long level = eq ? strtol(eq + 1, NULL, 10) : 50;
			char *user = eq ? strndup(optarg, (size_t)(eq - optarg)) : strdup(optarg);
			json_object_set_new(writers, user, json_integer(level));
			free(user);
		} else if (!cli_conn_option(c, o, optarg)) {
			json_decref(writers);
			return CLI_USAGE;
		}
	}
	if (optind + 1 != argc) {
		json_decref(writers);
		return cli_usage_error("table create", "expected one table name");
	}
	cli_conn_init(c, "table create");
	json_t *req = json_pack("{ss ss}", "name", argv[optind], "visibility", visibility);
	if (json_object_size(writers) > 0)
		json_object_set(req, "writers", writers);
	json_decref(writers);
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	cli_resp r;
	rc = CLI_FAILED;
	if (cli_request(c, "POST", "/_mxdb/v1/tables", body, NULL, &r) == 0 &&
	    (rc = cli_status(c, &r)) == CLI_OK)
		printf("%s\n", json_string_value(json_object_get(r.json, "room_id")));
	free(body);
	cli_resp_free(&r);
	return rc;
}

static int table_info(cli_conn *c, int argc, char **argv)
{
	static const struct option opts[] = {CLI_CONN_OPTIONS, {NULL, 0, NULL, 0}};
	int o, rc = CLI_FAILED;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (!cli_conn_option(c, o, optarg))
			return CLI_USAGE;
	if (optind + 1 != argc)
		return cli_usage_error("table info", "expected one table");
	cli_conn_init(c, "table info");
	char *room = url_escape(argv[optind]), path[2048];
	snprintf(path, sizeof(path), "/_mxdb/v1/tables/%s", room);
	free(room);
	cli_resp r;
	if (cli_request(c, "GET", path, NULL, NULL, &r) == 0 && (rc = cli_status(c, &r)) == CLI_OK)
		printf("%s\n", r.body);
	cli_resp_free(&r);
	return rc;
}

int cli_table(int argc, char **argv)
{
	cli_conn c = {0};
	int rc;
	if (argc < 2)
		return cli_usage_error("table", "expected create or info");
	if (strcmp(argv[1], "create") == 0)
		rc = table_create(&c, argc - 1, argv + 1);
	else if (strcmp(argv[1], "info") == 0)
		rc = table_info(&c, argc - 1, argv + 1);
	else
		return cli_usage_error("table", "unknown table command '%s'", argv[1]);
	cli_conn_finish(&c);
	return rc;
}

/* ---- rows: one generic command, a table of what differs ---- */

typedef struct row_cmd {
	const char *name;
	const char *method;
	int value;   /* takes a JSON value (argument or stdin) */
	int history; /* asks ?history=true */
} row_cmd;

static const row_cmd row_cmds[] = {
	{"put", "PUT", 1, 0},
	{"get", "GET", 0, 0},
	{"del", "DELETE", 0, 0},
	{"history", "GET", 0, 1},
};

static int row(const row_cmd *rc_, int argc, char **argv)
{
	cli_conn c = {0};
	const char *if_match = NULL;
	int if_none_match = 0, etag_only = 0;
	static const struct option opts[] = {CLI_CONN_OPTIONS,
	                                     {"if-match", required_argument, NULL, 'm'},
	                                     {"if-none-match", no_argument, NULL, 'n'},
	                                     {"etag", no_argument, NULL, 'e'},
	                                     {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (o == 'm')
			if_match = optarg;
		else if (o == 'n')
			if_none_match = 1;
		else if (o == 'e')
			etag_only = 1;
		else if (!cli_conn_option(&c, o, optarg))
			return CLI_USAGE;
	int npos = argc - optind;
	if (npos != 3 && !(rc_->value && npos == 4))
		return cli_usage_error(rc_->name, "expected TABLE TYPE KEY%s", rc_->value ? " [JSON]" : "");
	char *value = NULL;
	if (rc_->value) {
		value = npos == 4 ? strdup(argv[optind + 3]) : cli_read_stdin(NULL);
		json_error_t je;
		json_t *v = value ? json_loads(value, JSON_REJECT_DUPLICATES, &je) : NULL;
		int ok = json_is_object(v);
		json_decref(v);
		if (!ok) {
			free(value);
			return cli_usage_error(rc_->name, "the value must be a JSON object");
		}
	}
	cli_conn_init(&c, rc_->name);
	char *t = url_escape(argv[optind]), *ty = url_escape(argv[optind + 1]),
	     *k = url_escape(argv[optind + 2]);
	char path[4096], h1[600], h2[64];
	snprintf(path, sizeof(path), "/_mxdb/v1/tables/%s/rows/%s/%s%s", t, ty, k,
	         rc_->history ? "?history=true" : "");
	free(t);
	free(ty);
	free(k);
	const char *headers[3] = {NULL, NULL, NULL};
	int nh = 0;
	if (if_match != NULL) {
		snprintf(h1, sizeof(h1), "If-Match: %s%s%s", strcmp(if_match, "*") ? "\"" : "", if_match,
		         strcmp(if_match, "*") ? "\"" : "");
		headers[nh++] = h1;
	}
	if (if_none_match) {
		snprintf(h2, sizeof(h2), "If-None-Match: *");
		headers[nh++] = h2;
	}
	cli_resp r;
	int rc = CLI_FAILED;
	if (cli_request(&c, rc_->method, path, value, headers, &r) == 0) {
		rc = cli_status(&c, &r);
		if (rc == CLI_NEGATIVE && r.status == 412 && *r.etag)
			fprintf(stderr, "mxdb %s: current version %s\n", rc_->name, r.etag);
		if (rc == CLI_OK && etag_only)
			printf("%s\n", r.etag);
		else if (rc == CLI_OK)
			printf("%s\n", r.body ? r.body : "{}");
	}
	cli_resp_free(&r);
	free(value);
	cli_conn_finish(&c);
	return rc;
}

static int run_row(const char *name, int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(row_cmds) / sizeof(row_cmds[0]); i++)
		if (strcmp(row_cmds[i].name, name) == 0)
			return row(&row_cmds[i], argc, argv);
	return CLI_USAGE;
}

int cli_put(int argc, char **argv)
{
	return run_row("put", argc, argv);
}

int cli_get(int argc, char **argv)
{
	return run_row("get", argc, argv);
}

int cli_del(int argc, char **argv)
{
	return run_row("del", argc, argv);
}

int cli_history(int argc, char **argv)
{
	return run_row("history", argc, argv);
}

/* ---- scan: every page, one JSON line per row ---- */

int cli_scan(int argc, char **argv)
{
	cli_conn c = {0};
	const char *type = NULL, *prefix = NULL;
	long max = -1, page = 0;
	static const struct option opts[] = {CLI_CONN_OPTIONS, {"type", required_argument, NULL, 't'},
	                                     {"prefix", required_argument, NULL, 'p'},
	                                     {"limit", required_argument, NULL, 'l'},
	                                     {"page", required_argument, NULL, 'g'},
	                                     {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (o == 't')
			type = optarg;
		else if (o == 'p')
			prefix = optarg;
		else if (o == 'l')
			max = strtol(optarg, NULL, 10);
		else if (o == 'g')
			page = strtol(optarg, NULL, 10);
		else if (!cli_conn_option(&c, o, optarg))
			return CLI_USAGE;
	if (optind + 1 != argc)
		return cli_usage_error("scan", "expected one table");
	cli_conn_init(&c, "scan");
	char *t = url_escape(argv[optind]), *ty = type ? url_escape(type) : NULL,
	     *pr = prefix ? url_escape(prefix) : NULL, *from = NULL;
	int rc = CLI_OK;
	long printed = 0;
	for (;;) {
		char path[8192];
		char *ef = from ? url_escape(from) : NULL;
		snprintf(path, sizeof(path), "/_mxdb/v1/tables/%s/rows?limit=%ld%s%s%s%s%s%s", t,
		         page > 0 ? page : 1000, ty ? "&type=" : "", ty ? ty : "", pr ? "&prefix=" : "",
		         pr ? pr : "", ef ? "&from=" : "", ef ? ef : "");
		free(ef);
		cli_resp r;
		if (cli_request(&c, "GET", path, NULL, NULL, &r) != 0) {
			rc = CLI_FAILED;
			break;
		}
		if ((rc = cli_status(&c, &r)) != CLI_OK) {
			cli_resp_free(&r);
			break;
		}
		size_t i;
		json_t *rowv;
		json_array_foreach(json_object_get(r.json, "rows"), i, rowv) {
			if (max >= 0 && printed >= max)
				break;
			char *line = json_dumps(rowv, JSON_COMPACT);
			printf("%s\n", line);
			free(line);
			printed++;
		}
		free(from);
		const char *next = json_string_value(json_object_get(r.json, "next"));
		from = next ? strdup(next) : NULL;
		cli_resp_free(&r);
		if (from == NULL || (max >= 0 && printed >= max))
			break;
	}
	free(from);
	free(t);
	free(ty);
	free(pr);
	cli_conn_finish(&c);
	return rc;
}
