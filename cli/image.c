/* k8c image: the node's image store (agent/image.h) from the command line. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cli.h"
#include "image.h"

#define DEFAULT_ROOT "/var/lib/k8c/images"

static void usage(FILE *f)
{
	fputs("Usage: k8c image COMMAND [OPTIONS]\n"
	      "Manage the node's image store (OCI layout; layers unpacked once and shared).\n\n"
	      "  import ARCHIVE [--ref REF]   import an OCI archive or a docker-archive (docker "
	      "save)\n"
	      "                               tarball, tagged REF or with the archive's own names\n"
	      "  pull REF [--insecure] [--creds USER:PASS]\n"
	      "                               pull from a registry (distribution API v2); "
	      "loopback\n"
	      "                               registries and --insecure use plain HTTP\n"
	      "  list [--quiet]               the images: reference, image ID, size\n"
	      "  inspect REF                  an image as JSON (ID, layers, entrypoint, env...)\n"
	      "  rm REF...                    untag, then delete what no image uses any more\n\n"
	      "Options of every command:\n"
	      "  --root DIR                   the store (default " DEFAULT_ROOT ")\n"
	      "  --help                       show this help\n",
	      f);
}

static json_t *strv_json(char **v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *image_json(const struct k8c_image *img)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:I}", "ref", img->ref, "id", img->id, "imageRefID",
			      img->image_ref_id, "layers", strv_json(img->layers), "size",
			      (json_int_t)img->size);

	json_object_set_new(o, "entrypoint", strv_json(img->entrypoint));
	json_object_set_new(o, "cmd", strv_json(img->cmd));
	json_object_set_new(o, "env", strv_json(img->env));
	json_object_set_new(o, "workingDir", json_string(img->working_dir ? img->working_dir : ""));
	json_object_set_new(o, "user", json_string(img->user ? img->user : ""));
	return o;
}

static void human_size(long long n, char *out, size_t len)
{
	if (n >= 1000 * 1000)
		snprintf(out, len, "%.1fMB", (double)n / 1e6);
	else if (n >= 1000)
		snprintf(out, len, "%.1fkB", (double)n / 1e3);
	else
		snprintf(out, len, "%lldB", n);
}

static int fail(const char *what, struct k8c_error *err)
{
	fprintf(stderr, "k8c image %s: %s\n", what, err->msg ? err->msg : "failed");
	k8c_error_clear(err);
	return 1;
}

int cli_image(int argc, char **argv)
{
	enum { O_ROOT = 1, O_REF, O_INSECURE, O_CREDS, O_AUTHFILE, O_QUIET, O_HELP };
	static const struct option opts[] = {
		{"root", required_argument, NULL, O_ROOT},
		{"ref", required_argument, NULL, O_REF},
		{"insecure", no_argument, NULL, O_INSECURE},
		{"creds", required_argument, NULL, O_CREDS},
		{"auth-file", required_argument, NULL, O_AUTHFILE},
		{"quiet", no_argument, NULL, O_QUIET},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *root = DEFAULT_ROOT, *ref = NULL, *verb, *auth_file = NULL;
	_cleanup_free_ char *user = NULL, *file_user = NULL, *file_pass = NULL;
	struct k8c_pull_auth auth = {0};
	struct k8c_error err = K8C_ERROR_INIT;
	struct k8c_image_store *s;
	bool quiet = false;
	int c, rc = 0, nargs;
	char **args;

	optind = 1;
	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1) {
		switch (c) {
		case O_ROOT:
			root = optarg;
			break;
		case O_REF:
			ref = optarg;
			break;
		case O_INSECURE:
			auth.insecure = true;
			break;
		case O_CREDS: {
			char *colon;

			user = k8c_xstrdup(optarg);
			colon = strchr(user, ':');
			if (!colon) {
				fputs("k8c image: --creds: expected USER:PASSWORD\n", stderr);
				return 2;
			}
			*colon = '\0';
			auth.username = user;
			auth.password = colon + 1;
			break;
		}
		case O_AUTHFILE:
			auth_file = optarg;
			break;
		case 'q':
		case O_QUIET:
			quiet = true;
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	verb = argv[optind];
	args = argv + optind + 1;
	nargs = argc - optind - 1;
	if (strcmp(verb, "import") && strcmp(verb, "pull") && strcmp(verb, "list") &&
	    strcmp(verb, "ls") && strcmp(verb, "inspect") && strcmp(verb, "rm")) {
		fprintf(stderr, "k8c image: unknown command \"%s\"\n", verb);
		usage(stderr);
		return 2;
	}
	if (((!strcmp(verb, "import") || !strcmp(verb, "pull") || !strcmp(verb, "inspect")) &&
	     nargs != 1) ||
	    ((!strcmp(verb, "list") || !strcmp(verb, "ls")) && nargs != 0) ||
	    (!strcmp(verb, "rm") && nargs < 1)) {
		fprintf(stderr, "k8c image %s: wrong number of arguments (see --help)\n", verb);
		return 2;
	}
	s = k8c_image_store_open(root, &err);
	if (!s)
		return fail(verb, &err);
	if (!strcmp(verb, "import")) {
		if (k8c_image_import(s, args[0], ref, &err) < 0)
			rc = fail(verb, &err);
	} else if (!strcmp(verb, "pull")) {
		struct k8c_image img;

		if (auth_file && !auth.username) {
			_cleanup_free_ char *text = NULL;
			size_t len = 0;
			FILE *f = fopen(auth_file, "re");

			if (!f || getdelim(&text, &len, '\0', f) < 0) {
				fprintf(stderr, "k8c image pull: %s: %s\n", auth_file,
					strerror(errno));
				if (f)
					fclose(f);
				k8c_image_store_close(s);
				return 1;
			}
			fclose(f);
			if (k8c_image_auth_lookup(text, strlen(text), args[0], &file_user,
						  &file_pass, &err) < 0) {
				k8c_error_wrap(&err, "%s", auth_file);
				k8c_image_store_close(s);
				return fail(verb, &err);
			}
			auth.username = file_user;
			auth.password = file_pass;
		}
		if (k8c_image_pull(s, args[0], &auth, &err) < 0 ||
		    k8c_image_get(s, args[0], &img, &err) < 0) {
			rc = fail(verb, &err);
		} else {
			printf("%s %s\n", img.ref, img.image_ref_id);
			k8c_image_clear(&img);
		}
	} else if (!strcmp(verb, "inspect")) {
		struct k8c_image img;

		if (k8c_image_get(s, args[0], &img, &err) < 0) {
			rc = fail(verb, &err);
		} else {
			_cleanup_json_ json_t *j = image_json(&img);

			json_dumpf(j, stdout, JSON_INDENT(2));
			putchar('\n');
			k8c_image_clear(&img);
		}
	} else if (!strcmp(verb, "rm")) {
		for (int i = 0; i < nargs; i++)
			if (k8c_image_remove(s, args[i], &err) < 0)
				rc = fail(verb, &err);
	} else {
		struct k8c_image *imgs;
		size_t n;

		if (k8c_image_list(s, &imgs, &n, &err) < 0) {
			rc = fail(verb, &err);
		} else {
			if (!quiet)
				printf("%-50s %-13s %s\n", "REFERENCE", "IMAGE ID", "SIZE");
			for (size_t i = 0; i < n; i++) {
				char size[32];

				if (quiet) {
					puts(imgs[i].ref);
					continue;
				}
				human_size(imgs[i].size, size, sizeof(size));
				printf("%-50s %-13.13s %s\n", imgs[i].ref, imgs[i].id + 7, size);
			}
			k8c_image_list_free(imgs, n);
		}
	}
	k8c_image_store_close(s);
	return rc;
}
