/*
 * bench_stateres.c: state resolution on synthetic big tables. A room with N
 * rows (state events com.example.row|row-i written by 64 members) forks in
 * two: fork A raises a member's power and kicks a member, fork B restricts
 * the join rules and bans a member, and each fork rewrites K rows (half of
 * them the same rows). Resolves the two forks' states and prints the time
 * and the peak memory the resolution adds (getrusage ru_maxrss before and
 * after, each case in a fresh child process). Prints figures only; never asserts timing.
 *
 * Row events are built as plain ev_t sharing one content object (the
 * resolver reads them through sr_lookup like any other event): building a
 * million full PDUs would measure jansson, not state resolution.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"
#include "stateres.h"

#define MEMBERS 64

typedef struct room {
	const mx_room_version *rv;
	char room_id[64];
	mx_map *by_id;         /* event ID -> ev_t * */
	ev_t **owned;          /* every event, freed at the end */
	size_t n_owned, cap;
	json_t *row_content;
	char *users[MEMBERS];
	const char *create_id, *pl0_id, *member_id[MEMBERS];
	long ts;
} room;

static const ev_t *room_get(void *ctx, const char *id)
{
	return map_get(((room *)ctx)->by_id, id, strlen(id));
}

static void keep(room *r, ev_t *ev)
{
	if (r->n_owned == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 1024;
		r->owned = realloc(r->owned, r->cap * sizeof(*r->owned));
		if (r->owned == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	r->owned[r->n_owned++] = ev;
	map_put(r->by_id, ev->event_id, strlen(ev->event_id), ev, NULL);
}

/* The auth events of an event: create (not in v12), a power_levels event and
 * the sender's member event, plus extra ones. */
static json_t *auth_list(room *r, const char *pl, const char *member, const char *extra)
{
	json_t *a = json_array();
	if (!r->rv->room_id_from_create)
		json_array_append_new(a, json_string(r->create_id));
	if (pl)
		json_array_append_new(a, json_string(pl));
	if (member)
		json_array_append_new(a, json_string(member));
	if (extra)
		json_array_append_new(a, json_string(extra));
	return a;
}

/* A full PDU through ev_from_json, for the events the auth rules read. */
static const char *add_pdu(room *r, const char *id, const char *type, const char *state_key,
                           const char *sender, json_t *content, json_t *auth)
{
	json_t *pdu = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:[], s:o}", "type", type, "state_key",
	                        state_key, "sender", sender, "content", content, "origin_server_ts",
	                        (json_int_t)r->ts++, "depth", (json_int_t)1, "prev_events",
	                        "auth_events", auth);
	if (strcmp(type, "m.room.create") != 0 || !r->rv->room_id_from_create)
		json_object_set_new(pdu, "room_id", json_string(r->room_id));
	ev_t *ev;
	mxdb_error err;
	if (ev_from_json(pdu, id, r->rv, &ev, &err) != MXDB_OK) {
		fprintf(stderr, "bench_stateres: %s: %s\n", id, err.message);
		exit(1);
	}
	json_decref(pdu);
	keep(r, ev);
	return ev->event_id;
}

/* A row: a bare ev_t sharing the room's row content. */
static const char *add_row(room *r, const char *fork, size_t i, const char *pl, size_t who)
{
	ev_t *ev = calloc(1, sizeof(*ev));
	char id[64], sk[32];
	snprintf(id, sizeof(id), "$row-%s-%zu", fork, i);
	snprintf(sk, sizeof(sk), "row-%zu", i);
	const char **auth = calloc(3, sizeof(*auth));
	size_t n = 0;
	if (!r->rv->room_id_from_create)
		auth[n++] = r->create_id;
	auth[n++] = pl;
	auth[n++] = r->member_id[who];
	*ev = (ev_t){
		.event_id = strdup(id), .rv = r->rv, .room_id = r->room_id, .type = "com.example.row",
		.state_key = strdup(sk), .sender = r->users[who], .content = r->row_content,
		.origin_server_ts = r->ts++, .depth = 1, .auth_events = auth, .n_auth = n,
	};
	keep(r, ev);
	return ev->event_id;
}

static void put(mx_map *state, const ev_t *ev)
{
	char key[600];
	size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
	void *old = NULL;
	map_put(state, key, kl, (char *)ev->event_id, &old);
}

static const ev_t *E(room *r, const char *id)
{
	return room_get(r, id);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static long maxrss_kib(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_maxrss;
}

static void run(const char *version, size_t n_rows, size_t k)
{
	room r = {.rv = rv_get(version), .by_id = map_new(n_rows + 2 * k + 256)};
	r.row_content = json_pack("{s:s, s:b}", "title", "a row of the benchmark", "done", 0);
	for (int u = 0; u < MEMBERS; u++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "@user%02d:bench.example", u);
		r.users[u] = strdup(buf);
	}
	const char *alice = r.users[0], *bob = r.users[1];
	mx_map *a = map_new(n_rows + 256), *b = map_new(n_rows + 256);

	/* The room up to the fork, in both states. */
	r.create_id = add_pdu(&r, "$create", "m.room.create", "", alice,
	                      r.rv->create_has_creator_key
	                          ? json_pack("{s:s, s:s}", "creator", alice, "room_version", version)
	                          : json_pack("{s:s}", "room_version", version),
	                      auth_list(&r, NULL, NULL, NULL));
	snprintf(r.room_id, sizeof(r.room_id), r.rv->room_id_from_create ? "!create" : "!bench:bench.example");
	r.member_id[0] = add_pdu(&r, "$join-00", "m.room.member", alice, alice,
	                         json_pack("{s:s}", "membership", "join"),
	                         auth_list(&r, NULL, NULL, NULL));
	json_t *users = json_pack("{s:i}", bob, 50);
	if (!r.rv->creators_infinite_power)
		json_object_set_new(users, alice, json_integer(100));
	r.pl0_id = add_pdu(&r, "$pl0", "m.room.power_levels", "", alice,
	                   json_pack("{s:o, s:{s:i}, s:i}", "users", users, "events",
	                             "com.example.row", 0, "state_default", 50),
	                   auth_list(&r, NULL, r.member_id[0], NULL));
	const char *jr0 = add_pdu(&r, "$jr0", "m.room.join_rules", "", alice,
	                          json_pack("{s:s}", "join_rule", "public"),
	                          auth_list(&r, r.pl0_id, r.member_id[0], NULL));
	for (int u = 1; u < MEMBERS; u++) {
		char id[32];
		snprintf(id, sizeof(id), "$join-%02d", u);
		r.member_id[u] = add_pdu(&r, id, "m.room.member", r.users[u], r.users[u],
		                         json_pack("{s:s}", "membership", "join"),
		                         auth_list(&r, r.pl0_id, jr0, NULL));
	}
	const char *base[] = {r.create_id, r.pl0_id, jr0};
	for (size_t i = 0; i < 3; i++) {
		put(a, E(&r, base[i]));
		put(b, E(&r, base[i]));
	}
	for (int u = 0; u < MEMBERS; u++) {
		put(a, E(&r, r.member_id[u]));
		put(b, E(&r, r.member_id[u]));
	}
	for (size_t i = 0; i < n_rows; i++) {
		const ev_t *ev = E(&r, add_row(&r, "base", i, r.pl0_id, i % MEMBERS));
		put(a, ev);
		put(b, ev);
	}

	/* Fork A: bob goes to 75, user02 is kicked, rows 0..K rewritten. */
	json_t *users1 = json_pack("{s:i}", bob, 75);
	if (!r.rv->creators_infinite_power)
		json_object_set_new(users1, alice, json_integer(100));
	const char *pl1 = add_pdu(&r, "$pl1", "m.room.power_levels", "", alice,
	                          json_pack("{s:o, s:{s:i}, s:i}", "users", users1, "events",
	                                    "com.example.row", 0, "state_default", 50),
	                          auth_list(&r, r.pl0_id, r.member_id[0], NULL));
	put(a, E(&r, pl1));
	put(a, E(&r, add_pdu(&r, "$kick-02", "m.room.member", r.users[2], alice,
	                     json_pack("{s:s}", "membership", "leave"),
	                     auth_list(&r, pl1, r.member_id[0], r.member_id[2]))));
	for (size_t i = 0; i < k; i++)
		put(a, E(&r, add_row(&r, "a", i, pl1, (i + 3) % MEMBERS)));

	/* Fork B: invite-only, bob bans user03, rows K/2..K/2+K rewritten. */
	put(b, E(&r, add_pdu(&r, "$jr1", "m.room.join_rules", "", alice,
	                     json_pack("{s:s}", "join_rule", "invite"),
	                     auth_list(&r, r.pl0_id, r.member_id[0], NULL))));
	put(b, E(&r, add_pdu(&r, "$ban-03", "m.room.member", r.users[3], bob,
	                     json_pack("{s:s}", "membership", "ban"),
	                     auth_list(&r, r.pl0_id, r.member_id[1], r.member_id[3]))));
	for (size_t i = k / 2; i < k / 2 + k; i++)
		put(b, E(&r, add_row(&r, "b", i, r.pl0_id, (i + 5) % MEMBERS)));

	mx_map *sets[2] = {a, b};
	sr_lookup lk = {room_get, &r};
	mx_map *out = NULL;
	mxdb_error err;
	long rss0 = maxrss_kib();
	double t0 = now();
	mxdb_status st = sr_resolve(r.rv, sets, 2, &lk, &out, &err);
	double t1 = now();
	long rss1 = maxrss_kib();
	if (st != MXDB_OK) {
		fprintf(stderr, "bench_stateres: %s\n", err.message);
		exit(1);
	}
	/* Sanity: every row survives; fork A's rows win where the forks clash
	 * only if its power levels survive, which they do (alice outranks). */
	size_t rows = 0, from_a = 0;
	size_t it = 0;
	void *v;
	while (map_next(out, &it, NULL, NULL, &v)) {
		rows += strncmp(v, "$row-", 5) == 0;
		from_a += strncmp(v, "$row-a-", 7) == 0;
	}
	printf("room v%-2s N=%-8zu K=%-6zu resolve %8.1f ms  peak +%6.1f MiB  "
	       "(result %zu keys, %zu rows, %zu from fork A)\n",
	       version, n_rows, k, (t1 - t0) * 1e3, (rss1 - rss0) / 1024.0, map_count(out), rows,
	       from_a);
	if (rows != n_rows) {
		fprintf(stderr, "bench_stateres: %zu rows resolved, want %zu\n", rows, n_rows);
		exit(1);
	}

	map_free(out, free);
	map_free(a, NULL);
	map_free(b, NULL);
	for (size_t i = 0; i < r.n_owned; i++) {
		ev_t *ev = r.owned[i];
		if (ev->json != NULL) {
			ev_free(ev);
			continue;
		}
		free(ev->event_id);
		free((char *)ev->state_key);
		free(ev->auth_events);
		free(ev);
	}
	free(r.owned);
	map_free(r.by_id, NULL);
	json_decref(r.row_content);
	for (int u = 0; u < MEMBERS; u++)
		free(r.users[u]);
}

int main(int argc, char **argv)
{
	/* Each case in its own process, so each peak is its own. */
	static const struct {
		const char *version;
		size_t n, k;
	} cases[] = {
		{"10", 10000, 1000}, {"10", 100000, 10000}, {"12", 100000, 10000}, {"10", 1000000, 10000},
	};
	size_t n_cases = sizeof(cases) / sizeof(cases[0]);
	if (argc > 1 && strcmp(argv[1], "--quick") == 0)
		n_cases = 1;
	if (argc >= 3) { /* bench_stateres N K [room version]: one case, in-process */
		run(argc > 3 ? argv[3] : "10", strtoul(argv[1], NULL, 10), strtoul(argv[2], NULL, 10));
		return 0;
	}
	int failed = 0;
	for (size_t i = 0; i < n_cases; i++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			run(cases[i].version, cases[i].n, cases[i].k);
			fflush(stdout);
			_exit(0);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	return failed;
}
