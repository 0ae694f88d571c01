/*
 * The node's image store (issue 4, docs/agent.md "Images"): OCI image layout under a root
 * directory, content-addressed blobs, each layer unpacked once into its own directory and shared
 * by every image and container that uses it (overlayfs lowerdirs).
 *
 * References are normalised as Kubernetes/containerd do: "busybox" is
 * "docker.io/library/busybox:latest", "k8s.gcr.io/busybox" is "k8s.gcr.io/busybox:latest",
 * "r/x@sha256:..." is pinned by digest.
 */
#ifndef K8C_AGENT_IMAGE_H
#define K8C_AGENT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct k8c_image_store;

struct k8c_image {
	char *ref; /* normalised reference */
	char *id;  /* "sha256:<config digest>" (the pod's imageID is "<repo>@<manifest digest>") */
	char *image_ref_id; /* "docker.io/library/busybox@sha256:<manifest digest>" */
	char **layers;	    /* unpacked layer directories, lowest first, NULL-terminated */
	/* From the image config (may be NULL / empty): */
	char **entrypoint, **cmd, **env; /* NULL-terminated; env as "K=V" */
	char *working_dir, *user;
	long long size; /* bytes of the image's blobs (config and compressed layers) */
};

struct k8c_pull_auth {
	const char *username, *password; /* from imagePullSecrets (docker config json), or NULL */
	bool insecure;			 /* plain HTTP or unverified TLS (registries on loopback) */
};

struct k8c_image_store *k8c_image_store_open(const char *root, struct k8c_error *err);
void k8c_image_store_close(struct k8c_image_store *s);

/* Local lookup, no network. -1 with err->code ENOENT when the image is not in the store. */
int k8c_image_get(struct k8c_image_store *s, const char *ref, struct k8c_image *out,
		  struct k8c_error *err);
void k8c_image_clear(struct k8c_image *img);

/* Pull from a registry (distribution API v2, anonymous or token auth) into the store. */
int k8c_image_pull(struct k8c_image_store *s, const char *ref, const struct k8c_pull_auth *auth,
		   struct k8c_error *err);

/*
 * The credentials imagePullSecrets give for ref, as kubelet's keyring picks them: docker_config is
 * a Secret's decoded .dockerconfigjson ({"auths": {...}}) or .dockercfg; the most specific key
 * matching ref's registry (host globs, port) and repository path wins. 0 with *username and
 * *password set (owned) when one matches, 0 with both NULL when none does, -1 when malformed.
 */
int k8c_image_auth_lookup(const char *docker_config, size_t len, const char *ref, char **username,
			  char **password, struct k8c_error *err);

/* Import an OCI layout or docker-archive tarball; tags it as ref (or the archive's own names). */
int k8c_image_import(struct k8c_image_store *s, const char *archive, const char *ref,
		     struct k8c_error *err);

/* The normalised form of ref in *out (owned); -1 with err->code EINVAL when it is malformed. */
int k8c_image_normalize(const char *ref, char **out, struct k8c_error *err);

/* Every image in the store, sorted by reference; free with k8c_image_list_free. */
int k8c_image_list(struct k8c_image_store *s, struct k8c_image **out, size_t *n,
		   struct k8c_error *err);
void k8c_image_list_free(struct k8c_image *imgs, size_t n);

/* Untag ref; blobs and layer directories no image references any more are deleted. */
int k8c_image_remove(struct k8c_image_store *s, const char *ref, struct k8c_error *err);

#endif
