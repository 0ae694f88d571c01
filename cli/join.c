/*
 * k8c join-config: the kubeconfig another machine's k8c-agent, k8c-proxy and k8c-ingress use to
 * join a cluster (docs/deploy.md). k8c-server has no bootstrap-token flow; what it does
 * authenticate besides client certificates are service-account tokens. So, with the admin
 * kubeconfig: a ServiceAccount kube-system/k8c-node-NODE, its legacy token Secret (filled by the
 * serviceaccount-token controller; no expiry, revoked by deleting the Secret or the
 * ServiceAccount), and a kubeconfig of the server's URL, its CA and that token.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "kube_client.h"
#include "kubeconfig.h"
#include "objutil.h"

#define JOIN_NS "kube-system"

static char *b64(const char *data, size_t len)
{
	char *out = k8c_xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
	return out;
}

static int create_ok(struct k8c_kube *k, struct k8c_gvr gvr, json_t *obj, struct k8c_error *err)
{
	int r = k8c_kube_create(k, gvr, JOIN_NS, obj, NULL, err);

	if (r < 0 && err->code == 409) {
		k8c_error_clear(err);
		r = 0;
	} else if (r < 0) {
		k8c_error_wrap(err, "create %s %s/%s", gvr.resource, JOIN_NS,
			       k8c_str_at(obj, "metadata.name") ?: "?");
	}
	json_decref(obj);
	return r;
}

/* The token the controller put into the Secret (decoded), waiting up to 30 s for it. */
static char *wait_token(struct k8c_kube *k, const char *secret, struct k8c_error *err)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		_cleanup_json_ json_t *s = NULL;
		struct timespec t;
		const char *tok;

		if (k8c_kube_get(k, K8C_GVR_SECRETS, JOIN_NS, secret, &s, err) < 0)
			return NULL;
		if ((tok = k8c_str_at(s, "data.token")) && *tok) {
			size_t n;
			char *raw = k8c_base64_decode(tok, &n);

			if (!raw) {
				k8c_error_set(err, 0, "Secret %s/%s: data.token is not base64",
					      JOIN_NS, secret);
				return NULL;
			}
			raw = k8c_xrealloc(raw, n + 1);
			raw[n] = 0;
			return raw;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30) {
			k8c_error_set(err, 0,
				      "Secret %s/%s: no token after 30 s (does k8c-server run the "
				      "serviceaccount-token controller?)",
				      JOIN_NS, secret);
			return NULL;
		}
		nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	}
}

static void usage(FILE *f)
{
	fputs("Usage: k8c join-config --node NAME [--kubeconfig ADMIN] [--server URL] [--out "
	      "FILE]\n"
	      "Write the kubeconfig a machine's k8c-agent, k8c-proxy and k8c-ingress use to join\n"
	      "the cluster (docs/deploy.md): a ServiceAccount kube-system/k8c-node-NAME and its\n"
	      "token Secret are made with the admin kubeconfig (once; again gives the same "
	      "token),\n"
	      "and the kubeconfig holds the server's URL, its CA and that token. Delete the\n"
	      "Secret (or the ServiceAccount) to revoke it.\n\n"
	      "  --node NAME        the joining node (a DNS label)\n"
	      "  --kubeconfig PATH  admin credentials (default $KUBECONFIG, ~/.kube/config)\n"
	      "  --server URL       the API server as the node reaches it (default: the admin\n"
	      "                     kubeconfig's; it must be one of the server certificate's "
	      "SANs,\n"
	      "                     e.g. k8c-server's --bind-address)\n"
	      "  --out FILE         write there (mode 0600) instead of stdout\n"
	      "  --help             show this help\n",
	      f);
}

int cli_join_config(int argc, char **argv)
{
	static const struct option lo[] = {
		{"node", required_argument, NULL, 'n'},
		{"kubeconfig", required_argument, NULL, 'k'},
		{"server", required_argument, NULL, 's'},
		{"out", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *node = NULL, *kc = NULL, *server = NULL, *out = NULL;
	struct k8c_kubeconfig cfg = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_kube *k = NULL;
	_cleanup_free_ char *sa = NULL, *secret = NULL, *token = NULL, *ca = NULL, *doc = NULL;
	int opt, ret = 1;
	FILE *f;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'n':
			node = optarg;
			break;
		case 'k':
			kc = optarg;
			break;
		case 's':
			server = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!node || optind < argc) {
		usage(stderr);
		return 2;
	}
	for (const char *p = node; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') ||
		    strlen(node) > 50) {
			fprintf(stderr, "k8c join-config: --node \"%s\": not a DNS label\n", node);
			return 2;
		}
	if (k8c_kubeconfig_default(kc, NULL, &cfg, &err) < 0 ||
	    !(k = k8c_kube_new(&cfg, NULL, &err)))
		goto fail;
	if (!cfg.ca) {
		k8c_error_set(&err, 0, "%s: no certificate authority to hand on", cfg.source);
		goto fail;
	}
	sa = k8c_xasprintf("k8c-node-%s", node);
	secret = k8c_xasprintf("k8c-node-%s-token", node);
	if (create_ok(k, K8C_GVR("", "v1", "serviceaccounts"),
		      json_pack("{s:s,s:s,s:{s:s,s:{s:s}}}", "apiVersion", "v1", "kind",
				"ServiceAccount", "metadata", "name", sa, "labels", "k8c.io/node",
				node),
		      &err) < 0 ||
	    create_ok(k, K8C_GVR_SECRETS,
		      json_pack("{s:s,s:s,s:s,s:{s:s,s:{s:s}}}", "apiVersion", "v1", "kind",
				"Secret", "type", "kubernetes.io/service-account-token", "metadata",
				"name", secret, "annotations", "kubernetes.io/service-account.name",
				sa),
		      &err) < 0 ||
	    !(token = wait_token(k, secret, &err)))
		goto fail;
	ca = b64(cfg.ca, cfg.ca_len);
	doc = k8c_xasprintf(
		"apiVersion: v1\nkind: Config\nclusters:\n- name: k8c\n  cluster:\n"
		"    server: %s\n    certificate-authority-data: %s\n"
		"users:\n- name: %s\n  user:\n    token: %s\n"
		"contexts:\n- name: %s@k8c\n  context:\n    cluster: k8c\n    user: %s\n"
		"current-context: %s@k8c\n",
		server ? server : cfg.server, ca, sa, token, sa, sa, sa);
	if (out) {
		_cleanup_free_ char *tmp = k8c_xasprintf("%s.tmp", out);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || !(f = fdopen(fd, "w"))) {
			k8c_error_errno(&err, 0, errno, "%s", tmp);
			if (fd >= 0)
				close(fd);
			goto fail;
		}
		fputs(doc, f);
		if (fclose(f) != 0 || rename(tmp, out) < 0) {
			k8c_error_errno(&err, 0, errno, "write %s", out);
			unlink(tmp);
			goto fail;
		}
		fprintf(stderr, "k8c join-config: %s (ServiceAccount %s/%s, Secret %s)\n", out,
			JOIN_NS, sa, secret);
	} else {
		fputs(doc, stdout);
	}
	ret = 0;
fail:
	if (ret) {
		fprintf(stderr, "k8c join-config: %s\n", err.msg ? err.msg : "failed");
		k8c_error_clear(&err);
	}
	if (k)
		k8c_kube_free(k);
	k8c_kubeconfig_free(&cfg);
	return ret;
}
