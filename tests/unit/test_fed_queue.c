/* test_fed_queue.c: the outbound queue in a real SQLite file: transaction
 * limits, order, retries with the same txn ID, restarts, back-off. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fed_queue.h"
#include "fed_store.h"
#include "testutil.h"

static char dir[] = "/tmp/test_fed_queue_XXXXXX";
static char path[256];

static void push(sqlite3 *db, const char *dest, fed_item_kind kind, int i)
{
	char body[64];
	snprintf(body, sizeof(body), "{\"i\":%d}", i);
	mxdb_error err;
	CHECK_MSG(fed_queue_push(db, dest, kind, body, &err) == MXDB_OK, "%s", err.message);
}

static int item(json_t *arr, size_t k)
{
	return (int)json_integer_value(json_object_get(json_array_get(arr, k), "i"));
}

static void test_limits_and_order(void)
{
	sqlite3 *db;
	mxdb_error err;
	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	/* 120 PDUs, an EDU after every fourth, and 250 EDUs at the end. */
	int next = 0;
	for (int i = 0; i < 120; i++) {
		push(db, "b.example", FED_ITEM_PDU, next++);
		if (i % 4 == 3)
			push(db, "b.example", FED_ITEM_EDU, next++);
	}
	for (int i = 0; i < 250; i++)
		push(db, "b.example", FED_ITEM_EDU, next++);
	push(db, "c.example", FED_ITEM_PDU, 9999);
	long long len;
	CHECK(fed_queue_length(db, "b.example", &len, &err) == MXDB_OK && len == next);

	fed_txn t, again;
	CHECK(fed_queue_take(db, "b.example", &t, &err) == MXDB_OK);
	CHECK(json_array_size(t.pdus) == FED_TXN_MAX_PDUS);
	/* Items stop at the first that does not fit: the 51st PDU. */
	CHECK(json_array_size(t.edus) == 12);
	CHECK(item(t.pdus, 0) == 0 && item(t.edus, 0) == 4);

	/* Not acknowledged: the same transaction comes back, even after a restart. */
	sqlite3_close(db);
	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	CHECK(fed_queue_take(db, "b.example", &again, &err) == MXDB_OK);
	CHECK(strcmp(t.txn_id, again.txn_id) == 0);
	CHECK(json_equal(t.pdus, again.pdus) && json_equal(t.edus, again.edus));
	push(db, "b.example", FED_ITEM_PDU, next++); /* arrives meanwhile; must not join */
	fed_txn_free(&again);
	CHECK(fed_queue_take(db, "b.example", &again, &err) == MXDB_OK);
	CHECK(json_equal(t.pdus, again.pdus) && json_equal(t.edus, again.edus));
	fed_txn_free(&again);

	/* Drain: every item exactly once, in the order pushed. */
	int seen = 0, txns = 0, bad_order = 0;
	char last_id[64] = "";
	for (;;) {
		CHECK(strcmp(last_id, t.txn_id) != 0);
		snprintf(last_id, sizeof(last_id), "%s", t.txn_id);
		CHECK(json_array_size(t.pdus) <= FED_TXN_MAX_PDUS);
		CHECK(json_array_size(t.edus) <= FED_TXN_MAX_EDUS);
		/* Merge the two arrays back by their numbers, as the order of pushes. */
		size_t a = 0, b = 0;
		while (a < json_array_size(t.pdus) || b < json_array_size(t.edus)) {
			int x = a < json_array_size(t.pdus) ? item(t.pdus, a) : 1 << 30;
			int y = b < json_array_size(t.edus) ? item(t.edus, b) : 1 << 30;
			int v = x < y ? x : y;
			if (x < y)
				a++;
			else
				b++;
			if (v != seen)
				bad_order++;
			seen++;
		}
		CHECK(fed_queue_ack(db, &t, &err) == MXDB_OK);
		fed_txn_free(&t);
		txns++;
		mxdb_status st = fed_queue_take(db, "b.example", &t, &err);
		if (st == MXDB_ENOTFOUND)
			break;
		CHECK(st == MXDB_OK);
		if (st != MXDB_OK || txns > 100)
			break;
	}
	CHECK_MSG(seen == next && bad_order == 0, "seen %d of %d, %d out of order", seen, next, bad_order);
	/* 121 PDUs need 3 transactions; 280 EDUs at least 3. */
	CHECK(txns >= 5);
	CHECK(fed_queue_length(db, "b.example", &len, &err) == MXDB_OK && len == 0);
	CHECK(fed_queue_length(db, "c.example", &len, &err) == MXDB_OK && len == 1);
	sqlite3_close(db);
}

static void test_backoff(void)
{
	sqlite3 *db;
	mxdb_error err;
	CHECK(fed_store_open(path, &db, &err) == MXDB_OK);
	fed_backoff pol = {.initial_ms = 100, .cap_ms = 1000};
	long long now = 1000000, at = 0;
	char **d;
	size_t n;
	long long next;

	CHECK(fed_queue_due(db, now, &d, &n, &next, &err) == MXDB_OK);
	CHECK(n == 1 && strcmp(d[0], "c.example") == 0 && next == 0); /* b is empty */
	fed_queue_due_free(d, n);

	long long want[] = {100, 200, 400, 800, 1000, 1000};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK(fed_queue_failed(db, "c.example", now, &pol, &at, &err) == MXDB_OK);
		CHECK_MSG(at == now + want[i], "retry %zu at +%lld", i, at - now);
	}
	CHECK(fed_queue_due(db, now, &d, &n, &next, &err) == MXDB_OK);
	CHECK(n == 0 && next == now + 1000);
	fed_queue_due_free(d, n);
	CHECK(fed_queue_due(db, now + 1000, &d, &n, &next, &err) == MXDB_OK);
	CHECK(n == 1);
	fed_queue_due_free(d, n);

	/* The peer spoke to us: it is retried at once, back-off from the start. */
	CHECK(fed_queue_wake(db, "c.example", &err) == MXDB_OK);
	CHECK(fed_queue_due(db, now, &d, &n, &next, &err) == MXDB_OK);
	CHECK(n == 1);
	fed_queue_due_free(d, n);
	CHECK(fed_queue_failed(db, "c.example", now, &pol, &at, &err) == MXDB_OK && at == now + 100);

	/* Success resets it. */
	fed_txn t;
	CHECK(fed_queue_take(db, "c.example", &t, &err) == MXDB_OK);
	CHECK(json_array_size(t.pdus) == 1 && item(t.pdus, 0) == 9999);
	CHECK(fed_queue_ack(db, &t, &err) == MXDB_OK);
	fed_txn_free(&t);
	push(db, "c.example", FED_ITEM_EDU, 1);
	CHECK(fed_queue_due(db, now, &d, &n, &next, &err) == MXDB_OK);
	CHECK(n == 1);
	fed_queue_due_free(d, n);
	CHECK(fed_queue_failed(db, "c.example", now, &pol, &at, &err) == MXDB_OK && at == now + 100);

	CHECK(fed_queue_push(db, "", FED_ITEM_PDU, "{}", &err) == MXDB_EINVAL);
	CHECK(fed_queue_take(db, "nobody.example", &t, &err) == MXDB_ENOTFOUND);
	sqlite3_close(db);
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/mxdb.sqlite3", dir);
	test_limits_and_order();
	test_backoff();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	return test_summary("test_fed_queue");
}
