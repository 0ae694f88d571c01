/*
 * A command-line driver of lib/kube_client and lib/informer for client_*.sh (not installed).
 *
 *   k8c_client_tool [--kubeconfig F] [--context C] [--in-cluster DIR] CMD ...
 *     get RES NS NAME              print the object
 *     list RES NS [LIMIT [LABELSEL [FIELDSEL]]]   print {"resourceVersion","items"}
 *     create RES NS                the object from stdin
 *     update RES NS | update-status RES NS        the object from stdin
 *     patch RES NS NAME merge|strategic|json PATCH [SUBRESOURCE]
 *     delete RES NS NAME [DELETEOPTIONS]
 *     config                       print what the kubeconfig resolved to (no secrets)
 *     informer RES NS [LABELSEL [FIELDSEL [INDEXLABEL [DROPKEY]]]]
 *       (DROPKEY: a transform caches objects without that top-level key)
 *       prints one line per delta (ADD key rv, UPDATE key oldrv newrv, DELETE key rv, SYNCED,
 *       ERROR msg) and reads commands on stdin: "dump FILE" (the cache as {key: object}, then
 *       prints DUMPED), "stats" (STATS lists watches relists_410 errors), "index KEY" (INDEX KEY
 *       names...). Ends at EOF on stdin.
 *
 * RES is VERSION/RESOURCE or GROUP/VERSION/RESOURCE; NS "-" means no namespace. Errors go to
 * stderr as "error (code N): message", exit status 1. With K8C_TOOL_PROTO set in the environment,
 * a success says "http2" on stderr when the answer came over HTTP/2.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "informer.h"
#include "kube_client.h"
#include "kubeconfig.h"

static int fail(struct k8c_error *err)
{
	fprintf(stderr, "error (code %d): %s\n", err->code, err->msg ? err->msg : "?");
	k8c_error_clear(err);
	return 1;
}

static int print_json(json_t *j)
{
	if (json_dumpf(j, stdout, JSON_COMPACT) < 0)
		return 1;
	putchar('\n');
	return 0;
}

static json_t *read_stdin(struct k8c_error *err)
{
	json_error_t jerr;
	json_t *j = json_loadf(stdin, 0, &jerr);

	if (!j)
		k8c_error_set(err, 0, "stdin: %s", jerr.text);
	return j;
}

static const char *rv_of(const json_t *o)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(o, "metadata"), "resourceVersion"));

	return rv ? rv : "-";
}

static void on_delta(const struct k8c_delta *d, void *arg)
{
	switch (d->type) {
	case K8C_DELTA_ADD:
		printf("ADD %s %s\n", d->key, rv_of(d->new));
		break;
	case K8C_DELTA_UPDATE:
		printf("UPDATE %s %s %s\n", d->key, rv_of(d->old), rv_of(d->new));
		break;
	case K8C_DELTA_DELETE:
		printf("DELETE %s %s\n", d->key, rv_of(d->new));
		break;
	case K8C_DELTA_SYNCED:
		printf("SYNCED\n");
		break;
	case K8C_DELTA_ERROR:
		printf("ERROR %s\n", d->msg);
		break;
	}
	fflush(stdout);
}

static const char *index_label;

static char *by_label(const json_t *obj)
{
	const char *v = json_string_value(json_object_get(
		json_object_get(json_object_get(obj, "metadata"), "labels"), index_label));

	return v ? k8c_xstrdup(v) : NULL;
}

static const char *drop_key;

static json_t *drop(json_t *obj)
{
	json_t *copy = json_copy(obj); /* shallow: the other members are shared */

	json_object_del(copy, drop_key);
	return copy;
}

static int command(struct k8c_informer *inf, char *line)
{
	struct k8c_informer_stats st;
	const char *key;
	json_t *v;

	line[strcspn(line, "\n")] = '\0';
	if (!strncmp(line, "dump ", 5)) {
		if (json_dump_file(k8c_informer_cache(inf), line + 5, JSON_SORT_KEYS) < 0)
			fprintf(stderr, "dump %s failed\n", line + 5);
		printf("DUMPED %s\n", line + 5);
	} else if (!strcmp(line, "stats")) {
		k8c_informer_stats(inf, &st);
		printf("STATS %lu %lu %lu %lu\n", st.lists, st.watches, st.relists_410, st.errors);
	} else if (!strncmp(line, "index ", 6)) {
		printf("INDEX %s", line + 6);
		json_object_foreach(k8c_informer_index(inf, line + 6), key, v)
		{
			printf(" %s", key);
		}
		printf("\n");
	} else {
		printf("UNKNOWN %s\n", line);
	}
	fflush(stdout);
	return 0;
}

static int run_informer(struct k8c_kubeconfig *cfg, struct k8c_gvr gvr, const char *ns, int argc,
			char **argv, struct k8c_error *err)
{
	struct k8c_informer_opts o = {
		.gvr = gvr,
		.namespace = ns,
		.label_selector = argc > 0 && *argv[0] ? argv[0] : NULL,
		.field_selector = argc > 1 && *argv[1] ? argv[1] : NULL,
		.user_agent = "k8c-client-tool/" K8C_VERSION,
	};
	struct k8c_informer *inf;
	char line[4096];
	int rc = 0;

	if (argc > 2 && *argv[2]) {
		index_label = argv[2];
		o.index = by_label;
	}
	if (argc > 3) {
		drop_key = argv[3];
		o.transform = drop;
	}
	inf = k8c_informer_new(cfg, &o, err);
	if (!inf || k8c_informer_start(inf, err) < 0) {
		k8c_informer_free(inf);
		return fail(err);
	}
	setvbuf(stdin, NULL, _IONBF, 0);
	for (;;) {
		struct pollfd p[2] = {{.fd = k8c_informer_fd(inf), .events = POLLIN},
				      {.fd = 0, .events = POLLIN}};

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents & POLLIN)
			k8c_informer_dispatch(inf, on_delta, NULL);
		if (p[1].revents & (POLLIN | POLLHUP)) {
			/* Unbuffered stdin: fgets reads what is there, a line at a time. */
			if (!fgets(line, sizeof(line), stdin))
				break;
			/* Let deltas that arrived meanwhile land before answering. */
			k8c_informer_dispatch(inf, on_delta, NULL);
			command(inf, line);
		}
	}
	k8c_informer_free(inf);
	return rc;
}

int main(int argc, char **argv)
{
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kubeconfig cfg;
	const char *kubeconfig = NULL, *context = NULL, *in_cluster = NULL, *cmd, *ns = NULL;
	struct k8c_kube *c;
	struct k8c_gvr gvr = {0};
	_cleanup_json_ json_t *out = NULL, *body = NULL;
	int i = 1, r = -1;

	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--kubeconfig"))
			kubeconfig = argv[i + 1];
		else if (!strcmp(argv[i], "--context"))
			context = argv[i + 1];
		else if (!strcmp(argv[i], "--in-cluster"))
			in_cluster = argv[i + 1];
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: %s [--kubeconfig F] [--context C] CMD ...\n", argv[0]);
		return 2;
	}
	cmd = argv[i++];
	if ((in_cluster ? k8c_kubeconfig_in_cluster(in_cluster, &cfg, &err)
			: k8c_kubeconfig_default(kubeconfig, context, &cfg, &err)) < 0)
		return fail(&err);
	if (!strcmp(cmd, "config")) {
		printf("source=%s\ncontext=%s\nserver=%s\nnamespace=%s\nca=%zu\ncert=%zu\nkey=%zu\n"
		       "token=%s\ninsecure=%d\n",
		       cfg.source, cfg.context ? cfg.context : "", cfg.server, cfg.namespace,
		       cfg.ca_len, cfg.cert_len, cfg.key_len, cfg.token ? "set" : "none",
		       cfg.insecure);
		k8c_kubeconfig_free(&cfg);
		return 0;
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "%s: RES NS expected\n", cmd);
		k8c_kubeconfig_free(&cfg);
		return 2;
	}
	if (k8c_gvr_parse(argv[i], &gvr, &err) < 0) {
		k8c_kubeconfig_free(&cfg);
		return fail(&err);
	}
	ns = strcmp(argv[i + 1], "-") ? argv[i + 1] : NULL;
	i += 2;
	if (!strcmp(cmd, "informer")) {
		r = run_informer(&cfg, gvr, ns, argc - i, argv + i, &err);
		k8c_kubeconfig_free(&cfg);
		return r;
	}
	c = k8c_kube_new(&cfg, "k8c-client-tool/" K8C_VERSION, &err);
	k8c_kubeconfig_free(&cfg);
	if (!c)
		return fail(&err);
	if (!strcmp(cmd, "get") && i < argc) {
		r = k8c_kube_get(c, gvr, ns, argv[i], &out, &err);
	} else if (!strcmp(cmd, "list")) {
		struct k8c_list_opts lo = {
			.limit = i < argc ? atol(argv[i]) : 0,
			.label_selector = i + 1 < argc && *argv[i + 1] ? argv[i + 1] : NULL,
			.field_selector = i + 2 < argc && *argv[i + 2] ? argv[i + 2] : NULL,
		};
		json_t *items;
		char *rv;

		r = k8c_kube_list(c, gvr, ns, &lo, &items, &rv, &err);
		if (r == 0) {
			out = json_pack("{s:s,s:o}", "resourceVersion", rv, "items", items);
			free(rv);
		}
	} else if (!strcmp(cmd, "create") || !strcmp(cmd, "update") ||
		   !strcmp(cmd, "update-status")) {
		body = read_stdin(&err);
		if (body)
			r = !strcmp(cmd, "create") ? k8c_kube_create(c, gvr, ns, body, &out, &err)
			    : !strcmp(cmd, "update")
				    ? k8c_kube_update(c, gvr, ns, body, &out, &err)
				    : k8c_kube_update_status(c, gvr, ns, body, &out, &err);
	} else if (!strcmp(cmd, "patch") && i + 2 < argc) {
		int type = k8c_patch_type_parse(argv[i + 1]);
		json_error_t jerr;

		body = json_loads(argv[i + 2], 0, &jerr);
		if (type < 0 || !body)
			k8c_error_set(&err, 0, "patch: bad type or patch");
		else
			r = k8c_kube_patch(c, gvr, ns, argv[i], i + 3 < argc ? argv[i + 3] : NULL,
					   (enum k8c_patch_type)type, body, &out, &err);
	} else if (!strcmp(cmd, "delete") && i < argc) {
		if (i + 1 < argc)
			body = json_loads(argv[i + 1], 0, NULL);
		r = k8c_kube_delete(c, gvr, ns, argv[i], body, &out, &err);
	} else {
		k8c_error_set(&err, 0, "unknown command or missing arguments: %s", cmd);
	}
	if (r == 0 && getenv("K8C_TOOL_PROTO") && k8c_kube_last_http2(c))
		fprintf(stderr, "http2\n");
	k8c_kube_free(c);
	if (r < 0)
		return fail(&err);
	return print_json(out);
}
