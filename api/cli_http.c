/*
 * cli_http.c: the HTTP plumbing of the `mxdb` client subcommands: where
 * the server and the token come from, the credentials file (0600, under
 * $XDG_CONFIG_HOME/mxdb or ~/.config/mxdb), one libcurl request, and the
 * exit status an answer maps to. Owns no subcommand.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "cli_http.h"

int cli_credentials_path(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;
	if (xdg != NULL && *xdg)
		n = snprintf(buf, cap, "%s/mxdb/credentials.json", xdg);
	else if (home != NULL && *home)
		n = snprintf(buf, cap, "%s/.config/mxdb/credentials.json", home);
	else
		return -1;
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static json_t *load_credentials(void)
{
	char path[1024];
	if (cli_credentials_path(path, sizeof(path)) != 0)
		return NULL;
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	return json_is_object(doc) ? doc : (json_decref(doc), NULL);
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

int cli_conn_option(cli_conn *c, int opt, const char *arg)
{
	if (opt == 'S')
		copy(c->server, sizeof(c->server), arg);
	else if (opt == 'T')
		copy(c->token, sizeof(c->token), arg);
	else
		return 0;
	return 1;
}

void cli_conn_init(cli_conn *c, const char *cmd)
{
	c->cmd = cmd;
	json_t *cred = load_credentials();
	if (!*c->server)
		copy(c->server, sizeof(c->server), getenv("MXDB_SERVER"));
	if (!*c->server)
		copy(c->server, sizeof(c->server), json_string_value(json_object_get(cred, "default")));
	if (!*c->server)
		copy(c->server, sizeof(c->server), CLI_DEFAULT_SERVER);
	size_t n = strlen(c->server);
	while (n > 0 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
	json_t *mine = json_object_get(json_object_get(cred, "servers"), c->server);
	if (!*c->token)
		copy(c->token, sizeof(c->token), getenv("MXDB_TOKEN"));
	if (!*c->token)
		copy(c->token, sizeof(c->token), json_string_value(json_object_get(mine, "access_token")));
	copy(c->user_id, sizeof(c->user_id), json_string_value(json_object_get(mine, "user_id")));
	json_decref(cred);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void cli_conn_finish(cli_conn *c)
{
	(void)c;
	curl_global_cleanup();
}

static int mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0700);
		*p = '/';
		if (rc != 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

int cli_save_credentials(const cli_conn *c)
{
	char path[1024], tmp[1100];
	if (cli_credentials_path(path, sizeof(path)) != 0 || mkdirs(path) != 0)
		return -1;
	json_t *cred = load_credentials();
	if (cred == NULL)
		cred = json_object();
	json_t *servers = json_object_get(cred, "servers");
	if (!json_is_object(servers)) {
		servers = json_object();
		json_object_set_new(cred, "servers", servers);
	}
	json_object_set_new(servers, c->server,
	                    json_pack("{ss ss}", "user_id", c->user_id, "access_token", c->token));
	json_object_set_new(cred, "default", json_string(c->server));
	/* written beside and renamed, so a crash never leaves half a file; the
	 * mode is set at creation so the token is never readable by others */
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rc = -1;
	if (fd >= 0) {
		char *text = json_dumps(cred, JSON_INDENT(2) | JSON_SORT_KEYS);
		size_t len = text ? strlen(text) : 0;
		rc = text != NULL && write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 ? 0 : -1;
		free(text);
		if (close(fd) != 0)
			rc = -1;
		if (rc == 0)
			rc = rename(tmp, path);
		if (rc != 0)
			unlink(tmp);
	}
	json_decref(cred);
	return rc;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	cli_resp *r = arg;
	size_t len = size * n;
	if (len > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		const char *v = data + 5, *end = data + len;
		while (v < end && (*v == ' ' || *v == '"'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == '"' || end[-1] == ' '))
			end--;
		snprintf(r->etag, sizeof(r->etag), "%.*s", (int)(end - v), v);
	}
	return len;
}

int cli_request(const cli_conn *c, const char *method, const char *path, const char *body,
                const char *const *headers, cli_resp *out)
{
	memset(out, 0, sizeof(*out));
	CURL *curl = curl_easy_init();
	if (curl == NULL)
		return -1;
	char url[4096], auth[1100];
	snprintf(url, sizeof(url), "%s%s", c->server, path);
	struct curl_slist *h = NULL;
	if (*c->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		h = curl_slist_append(h, auth);
	}
	if (body != NULL)
		h = curl_slist_append(h, "Content-Type: application/json");
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	mx_buf body_in = {0}; /* handed to out, which cli_resp_free frees */
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mx_buf_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body_in);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	if (body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	CURLcode rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
	else
		fprintf(stderr, "mxdb %s: %s: %s\n", c->cmd, c->server, curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	out->body = body_in.data;
	out->len = body_in.len;
	if (rc != CURLE_OK)
		return -1;
	if (out->body != NULL) {
		json_error_t je;
		out->json = json_loadb(out->body, out->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	}
	return 0;
}

void cli_resp_free(cli_resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

int cli_status(const cli_conn *c, const cli_resp *r)
{
	if (r->status >= 200 && r->status < 300)
		return CLI_OK;
	if (r->status == 0)
		return CLI_FAILED;
	const char *code = json_string_value(json_object_get(r->json, "errcode"));
	const char *msg = json_string_value(json_object_get(r->json, "error"));
	fprintf(stderr, "mxdb %s: %s: %s (HTTP %ld)\n", c->cmd, code ? code : "error",
	        msg ? msg : "no message", r->status);
	switch (r->status) {
	case 404:
	case 412:
		return CLI_NEGATIVE;
	case 400:
	case 413:
		return CLI_USAGE;
	case 401:
	case 403:
		return CLI_DENIED;
	default:
		return CLI_FAILED;
	}
}
