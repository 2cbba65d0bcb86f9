/* engine_util.h: what the engine (and other file-backed) tests share: a
 * fresh data directory under /tmp and its removal, and opening a database
 * on it. */
#ifndef MX_ENGINE_UTIL_H
#define MX_ENGINE_UTIL_H

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw: include this header first */
#endif
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxdb.h"

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* 0 when dir and everything below it are gone. */
static inline int tmpdir_remove(const char *dir)
{
	return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty directory path in buf (the directory itself does not exist yet:
 * mxdb_open creates it). */
static inline void tmpdir_make(char *buf, size_t cap, const char *tag)
{
	snprintf(buf, cap, "/tmp/mxdb-%s-XXXXXX", tag);
	if (mkdtemp(buf) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

static inline mxdb *open_db(const char *dir)
{
	mxdb *db = NULL;
	mxdb_error err;
	mxdb_options opt = {.server_name = "test.local", .synchronous = MXDB_SYNC_NORMAL};
	if (mxdb_open(dir, &opt, &db, &err) != MXDB_OK) {
		fprintf(stderr, "mxdb_open %s: %s\n", dir, err.message);
		exit(2);
	}
	return db;
}

#endif
