/*
 * feed_db.c: mxdb_feed_*, the change feed publisher attached to an open
 * database: one change callback that encodes each change (db/change.c's
 * mxdb_change_cbor) and sends it on the PUB socket of feed.c. Owns only
 * that registration; never blocks the writer thread.
 */
#include <stdlib.h>

#include "feed.h"

struct mxdb_feed {
	mxdb *db;
	feed_pub *pub;
	int sub_id;
};

/* On the writer thread, once per change, in seq order: the order of the feed. */
static int publish_change(void *ctx, const mxdb_change *c)
{
	mxdb_feed *f = ctx;
	unsigned char *buf;
	size_t len;
	if (mxdb_change_cbor(c, &buf, &len, NULL) != MXDB_OK)
		return 0; /* subscribers see the gap and catch up */
	feed_pub_send(f->pub, c->room, buf, len, NULL);
	mxdb_free(buf);
	return 0;
}

mxdb_status mxdb_feed_open(mxdb *db, const char *url, mxdb_feed **out, mxdb_error *err)
{
	if (db == NULL || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "mxdb_feed_open: missing argument");
	mxdb_feed *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	f->db = db;
	mxdb_status st = feed_pub_open(&f->pub, url, err);
	if (st == MXDB_OK && (f->sub_id = mxdb_on_change(db, publish_change, f)) == 0)
		st = mx_fail(err, MXDB_EINTERNAL, "feed: no room for another change callback");
	if (st != MXDB_OK) {
		feed_pub_close(f->pub);
		free(f);
		return st;
	}
	*out = f;
	return MXDB_OK;
}

void mxdb_feed_close(mxdb_feed *f)
{
	if (f == NULL)
		return;
	mxdb_unsubscribe(f->db, f->sub_id);
	feed_pub_close(f->pub);
	free(f);
}
