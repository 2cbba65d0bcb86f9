/*
 * cli_watch.c: `mxdb watch TABLE`: prints one JSON line per change of a
 * table, reliably (mxdb_watch over the server's nng feed, with catch-up
 * over HTTP when the feed drops). Owns the command's options and output.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_http.h"
#include "mxdb.h"
#include "url.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The table's room ID and the server's feed URL, from GET /_mxdb/v1/tables/{t}. */
static int resolve(cli_conn *c, const char *table, char *room, size_t rcap, char *feed, size_t fcap)
{
	char *t = url_escape(table), path[2048];
	snprintf(path, sizeof(path), "/_mxdb/v1/tables/%s", t);
	free(t);
	cli_resp r;
	int rc = CLI_FAILED;
	if (cli_request(c, "GET", path, NULL, NULL, &r) == 0 && (rc = cli_status(c, &r)) == CLI_OK) {
		snprintf(room, rcap, "%s", json_string_value(json_object_get(r.json, "room_id")) ?: "");
		if (!*feed)
			snprintf(feed, fcap, "%s", json_string_value(json_object_get(r.json, "feed")) ?: "");
		if (!*room)
			rc = CLI_FAILED;
	}
	cli_resp_free(&r);
	return rc;
}

int cli_watch(int argc, char **argv)
{
	cli_conn c = {0};
	char feed[1024] = "", room[512];
	uint64_t since = MXDB_WATCH_NOW;
	long count = -1, timeout = -1, recv_buf = 0;
	int stats = 0;
	static const struct option opts[] = {CLI_CONN_OPTIONS, {"feed", required_argument, NULL, 'f'},
	                                     {"since", required_argument, NULL, 's'},
	                                     {"count", required_argument, NULL, 'n'},
	                                     {"timeout", required_argument, NULL, 't'},
	                                     {"recv-buf", required_argument, NULL, 'r'},
	                                     {"stats", no_argument, NULL, 'x'},
	                                     {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (o == 'f')
			snprintf(feed, sizeof(feed), "%s", optarg);
		else if (o == 's')
			since = strtoull(optarg, NULL, 10);
		else if (o == 'n')
			count = strtol(optarg, NULL, 10);
		else if (o == 't')
			timeout = strtol(optarg, NULL, 10);
		else if (o == 'r') /* tests shrink it to make nng drop */
			recv_buf = strtol(optarg, NULL, 10);
		else if (o == 'x')
			stats = 1;
		else if (!cli_conn_option(&c, o, optarg))
			return CLI_USAGE;
	if (optind + 1 != argc)
		return cli_usage_error("watch", "expected one table");
	cli_conn_init(&c, "watch");
	int rc = resolve(&c, argv[optind], room, sizeof(room), feed, sizeof(feed));
	mxdb_watch *w = NULL;
	mxdb_error err;
	if (rc == CLI_OK) {
		mxdb_watch_options wo = {.feed_url = feed, .room = room, .since = since, .server = c.server,
		                         .token = *c.token ? c.token : NULL, .recv_buf = (int)recv_buf};
		if (mxdb_watch_open(&wo, &w, &err) != MXDB_OK) {
			fprintf(stderr, "mxdb watch: %s\n", err.message);
			rc = err.code == MXDB_EFORBIDDEN ? CLI_DENIED : CLI_FAILED;
		}
	}
	long long deadline = timeout >= 0 ? now_ms() + timeout : -1;
	long got = 0;
	while (rc == CLI_OK && (count < 0 || got < count)) {
		long long left = deadline < 0 ? 1000 : deadline - now_ms();
		if (left <= 0) {
			rc = count < 0 ? CLI_OK : CLI_NEGATIVE; /* fewer changes than asked for */
			break;
		}
		const mxdb_change *ch;
		if (mxdb_watch_next(w, left > 1000 ? 1000 : (int)left, &ch, &err) != MXDB_OK) {
			fprintf(stderr, "mxdb watch: %s\n", err.message);
			rc = err.code == MXDB_EFORBIDDEN ? CLI_DENIED : CLI_FAILED;
			break;
		}
		if (ch != NULL) {
			printf("%s\n", mxdb_watch_json(w));
			fflush(stdout);
			got++;
		}
	}
	if (stats && w != NULL) {
		uint64_t gaps, catchups;
		mxdb_watch_stats(w, &gaps, &catchups);
		fprintf(stderr, "mxdb watch: %ld changes, %" PRIu64 " gaps, %" PRIu64 " catch-up reads\n", got, gaps,
		        catchups);
	}
	mxdb_watch_close(w);
	cli_conn_finish(&c);
	return rc;
}
