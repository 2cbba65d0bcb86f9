/* test_store_crash.c: durability against kill -9. A child process writes rows
 * from four threads and reports each acknowledged one on a pipe; the parent
 * SIGKILLs it at a random moment, reopens the database and checks that every
 * acknowledged row is there, that the change sequence has no hole, and that
 * SQLite's integrity_check passes. Three rounds on the same directory. */
#include "engine_util.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define ALICE "@alice:test.local"
#define THREADS 4
#define MAX_ACKED 200000

typedef struct child_arg {
	mxdb *db;
	const char *room;
	int fd, round, id;
} child_arg;

static void *child_writer(void *p)
{
	child_arg *a = p;
	char key[64], line[80], val[96];
	for (int i = 0; i < 1000000; i++) {
		snprintf(key, sizeof(key), "r%d-t%d-%d", a->round, a->id, i);
		snprintf(val, sizeof(val), "{\"k\":\"%s\"}", key);
		if (mxdb_put(a->db, a->room, ALICE, "com.example.crash", key, val, NULL, NULL, NULL) != MXDB_OK)
			_exit(3);
		int n = snprintf(line, sizeof(line), "%s\n", key);
		if (write(a->fd, line, (size_t)n) != n) /* one line < PIPE_BUF: atomic */
			_exit(4);
	}
	return NULL;
}

static void child_main(const char *dir, const char *room, int fd, int round)
{
	mxdb *db = NULL;
	mxdb_options opt = {.server_name = "test.local", .synchronous = MXDB_SYNC_FULL};
	if (mxdb_open(dir, &opt, &db, NULL) != MXDB_OK)
		_exit(2);
	pthread_t t[THREADS];
	child_arg a[THREADS];
	for (int i = 0; i < THREADS; i++) {
		a[i] = (child_arg){db, room, fd, round, i};
		pthread_create(&t[i], NULL, child_writer, &a[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

static int seq_check(void *ctx, const mxdb_change *c)
{
	uint64_t *last = ctx;
	if (c->seq != *last + 1)
		return 1;
	*last = c->seq;
	return 0;
}

static void one_round(const char *dir, const char *room, int round)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_main(dir, room, fds[1], round);
	}
	close(fds[1]);
	/* Kill at a random moment between 0.3 and 1.3 s into the run. */
	long ns = 300000000L + (long)randombytes_uniform(1000000000U);
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
	nanosleep(&ts, NULL);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	char *buf = malloc(MAX_ACKED * 24);
	size_t len = 0;
	ssize_t got;
	while ((got = read(fds[0], buf + len, MAX_ACKED * 24 - 1 - len)) > 0)
		len += (size_t)got;
	close(fds[0]);
	buf[len] = '\0';

	mxdb *db = open_db(dir);
	int acked = 0, missing = 0;
	char *save = NULL;
	for (char *k = strtok_r(buf, "\n", &save); k != NULL; k = strtok_r(NULL, "\n", &save)) {
		char *content = NULL;
		mxdb_error err;
		acked++;
		if (mxdb_get(db, room, "com.example.crash", k, &content, NULL, &err) != MXDB_OK ||
		    strstr(content, k) == NULL) {
			if (missing++ < 5)
				fprintf(stderr, "acknowledged row %s is missing\n", k);
		}
		mxdb_free(content);
	}
	printf("round %d: %d acknowledged rows, %d missing\n", round, acked, missing);
	CHECK(acked > 0);
	CHECK(missing == 0);
	uint64_t last = 0;
	mxdb_error err;
	CHECK(mxdb_changes_since(db, 0, NULL, 0, seq_check, &last, &err) == MXDB_OK);
	CHECK(last == mxdb_last_seq(db) && last >= (uint64_t)acked);

	sqlite3 *s;
	CHECK(sqlite3_open_v2(mxdb_sqlite_path(db), &s, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	sqlite3_stmt *st;
	CHECK(sqlite3_prepare_v2(s, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0);
	sqlite3_finalize(st);
	sqlite3_close(s);
	mxdb_close(db);
	free(buf);
}

int main(void)
{
	if (sodium_init() < 0)
		return 2;
	char dir[128];
	tmpdir_make(dir, sizeof(dir), "crash");
	mxdb *db = open_db(dir);
	mxdb_table_options o = {.creator = ALICE};
	char *room = NULL;
	mxdb_error err;
	CHECK(mxdb_create_table(db, &o, &room, &err) == MXDB_OK);
	mxdb_close(db);
	for (int round = 0; room != NULL && round < 3; round++)
		one_round(dir, room, round);
	mxdb_free(room);
	tmpdir_remove(dir);
	return test_summary("test_store_crash");
}
