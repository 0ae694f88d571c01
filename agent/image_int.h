/*
 * Inside the image store (agent/image*.c): blobs, layers and the registry client share these.
 * Not part of the contract (agent/image.h); the unit tests use it.
 */
#ifndef K8C_AGENT_IMAGE_INT_H
#define K8C_AGENT_IMAGE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "error.h"
#include "image.h"

#define IMAGE_DIGEST_LEN 71 /* "sha256:" + 64 hex digits */

#define MT_OCI_INDEX	   "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST	   "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG	   "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER	   "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZ	   "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_DOCKER_LIST	   "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

struct k8c_image_store {
	char *root; /* absolute, no symlinks */
};

/* A reference taken apart: domain "docker.io", path "library/busybox", tag and digest (either
 * may be NULL, not both). */
struct image_ref {
	char *domain, *path, *tag, *digest;
	char *full; /* normalised: domain/path[:tag][@digest] */
	char *repo; /* domain/path */
};
int image_ref_parse(const char *ref, struct image_ref *out, struct k8c_error *err);
void image_ref_clear(struct image_ref *r);

/* true when d is "sha256:" and 64 lowercase hex digits. */
bool image_digest_valid(const char *d);
/* "a/./b//c" -> "a/b/c", leading "/" and "./" dropped; "" for the root; NULL on "..". */
char *image_entry_rel(const char *name);

/* Where blobs go while they are written: a fresh name under root/tmp (owned). */
char *image_tmp_name(struct k8c_image_store *s, const char *what);
/* Move (rename) or link a file into blobs/ after checking its sha256; want may be NULL (then
 * the digest is only computed). digest_out (IMAGE_DIGEST_LEN + 1) and size_out may be NULL. */
int image_blob_put_file(struct k8c_image_store *s, const char *path, bool keep, const char *want,
			char *digest_out, int64_t *size_out, struct k8c_error *err);
int image_blob_put_mem(struct k8c_image_store *s, const void *buf, size_t len, const char *want,
		       char *digest_out, struct k8c_error *err);
bool image_blob_exists(struct k8c_image_store *s, const char *digest);
char *image_blob_path(struct k8c_image_store *s, const char *digest);

/*
 * Where the blobs of an image come from while it is stored: fetch puts the blob with this digest
 * into the store (verified), or fails naming it. Blobs already in the store are not asked for.
 */
struct image_source {
	int (*fetch)(void *ctx, const char *digest, const char *media_type, bool manifest,
		     struct k8c_error *err);
	void *ctx;
};
/* Store the image whose manifest (or index) blob is digest: fetch what is missing, unpack each
 * layer once, then tag it as ref in index.json. */
int image_store_tree(struct k8c_image_store *s, const struct image_source *src, const char *digest,
		     const char *media_type, const char *ref, struct k8c_error *err);
/* Parse a manifest or index blob; a JSON object (owned) with "mediaType" filled in when absent. */
int image_manifest_parse(const void *buf, size_t len, const char *media_type, json_t **out,
			 struct k8c_error *err);
/* The entry of an index for this machine (linux/amd64...), borrowed from idx. */
int image_index_pick(json_t *idx, json_t **out, struct k8c_error *err);

/*
 * Unpack the layer tar (gzip or uncompressed) in blob_path into dest (a new empty directory),
 * checking that the blob hashes to digest and the uncompressed tar to diff_id (either may be
 * NULL); whiteouts become overlayfs whiteouts (character device 0:0, trusted.overlay.opaque).
 */
int image_layer_unpack(const char *blob_path, const char *dest, const char *digest,
		       const char *diff_id, struct k8c_error *err);

/* rm -rf without following symlinks or crossing mounts. */
int image_remove_tree(const char *path);

/* Registry client (image_pull.c). */
int image_pull(struct k8c_image_store *s, const struct image_ref *ref,
	       const struct k8c_pull_auth *auth, struct k8c_error *err);

#endif
