/*
 * watch_api.c: mxdb_watch_*, the public face of the reliable subscriber
 * (watch.c), and its in-process catch-up source over mxdb_changes_since.
 * Owns the conversion of records to mxdb_change for callers; never touches
 * the feed's sockets itself.
 */
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "watch.h"

struct mxdb_watch {
	watch *w;
	mxdb_change change;  /* the last one handed out, pointing into rec */
	char *content;       /* its content text */
	char *json;          /* its record as JSON text, made on demand */
	const json_t *rec;
};

typedef struct collect {
	json_t *out;
	mxdb_status st;
	mxdb_error *err;
} collect;

static int collect_change(void *ctx, const mxdb_change *c)
{
	collect *k = ctx;
	json_t *r;
	k->st = feed_change_json(c, &r, k->err);
	if (k->st != MXDB_OK)
		return 1;
	json_array_append_new(k->out, r);
	return 0;
}

static mxdb_status local_since(void *src, uint64_t seq, const char *room, int limit, json_t **records,
                               watch_pos *pos, mxdb_error *err)
{
	mxdb *db = src;
	pos->head = mxdb_last_seq(db);
	pos->next = 0; /* in-process reads leave nothing out */
	collect k = {json_array(), MXDB_OK, err};
	if (k.out == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	mxdb_status st = MXDB_OK;
	if (limit > 0) /* limit 0 asks for the head alone */
		st = mxdb_changes_since(db, seq, room, (size_t)limit, collect_change, &k, err);
	if (st == MXDB_OK)
		st = k.st;
	if (st != MXDB_OK) {
		json_decref(k.out);
		return st;
	}
	*records = k.out;
	return MXDB_OK;
}

static const watch_source_ops local_ops = {local_since, NULL};

mxdb_status mxdb_watch_open(const mxdb_watch_options *opt, mxdb_watch **out, mxdb_error *err)
{
	if (opt == NULL || out == NULL || (opt->db == NULL) == (opt->server == NULL))
		return mx_fail(err, MXDB_EINVAL, "mxdb_watch_open: give either db or server for catch-up");
	mxdb_watch *mw = calloc(1, sizeof(*mw));
	if (mw == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	void *src = opt->db;
	const watch_source_ops *ops = &local_ops;
	mxdb_status st = MXDB_OK;
	if (opt->server != NULL)
		st = watch_http_source(opt->server, opt->token, &src, &ops, err);
	watch_config cfg = {
		.feed_url = opt->feed_url,
		.room = opt->room,
		.since = opt->since,
		.recv_buf = opt->recv_buf,
		.idle_check_ms = opt->idle_check_ms,
	};
	if (st == MXDB_OK) {
		st = watch_open(&mw->w, &cfg, src, ops, err);
		if (st != MXDB_OK && ops->close != NULL)
			ops->close(src);
	}
	if (st != MXDB_OK) {
		free(mw);
		return st;
	}
	*out = mw;
	return MXDB_OK;
}

mxdb_status mxdb_watch_next(mxdb_watch *mw, int timeout_ms, const mxdb_change **out, mxdb_error *err)
{
	if (mw == NULL || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "mxdb_watch_next: missing argument");
	*out = NULL;
	free(mw->json);
	mw->json = NULL;
	mw->rec = NULL;
	const json_t *rec;
	mxdb_status st = watch_next(mw->w, timeout_ms, &rec, err);
	if (st != MXDB_OK || rec == NULL)
		return st;
	st = feed_json_change(rec, &mw->change, &mw->content, err);
	if (st != MXDB_OK)
		return st;
	mw->rec = rec;
	*out = &mw->change;
	return MXDB_OK;
}

const char *mxdb_watch_json(mxdb_watch *mw)
{
	if (mw == NULL || mw->rec == NULL)
		return NULL;
	if (mw->json == NULL)
		mw->json = json_dumps(mw->rec, JSON_COMPACT);
	return mw->json;
}

uint64_t mxdb_watch_seq(const mxdb_watch *mw)
{
	return mw ? watch_seq(mw->w) : 0;
}

void mxdb_watch_stats(const mxdb_watch *mw, uint64_t *gaps, uint64_t *catchups)
{
	watch_stats s = watch_get_stats(mw->w);
	if (gaps)
		*gaps = s.gaps;
	if (catchups)
		*catchups = s.catchups;
}

void mxdb_watch_close(mxdb_watch *mw)
{
	if (mw == NULL)
		return;
	watch_close(mw->w);
	free(mw->content);
	free(mw->json);
	free(mw);
}
