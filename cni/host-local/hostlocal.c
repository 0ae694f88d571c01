/* k8c-host-local's command handlers, shared by its binary and by k8c-bridge, which runs them
 * in-process instead of spawning the IPAM plugin. */
#include <string.h>

#include "hl_alloc.h"
#include "hl_config.h"
#include "hostlocal.h"

static const char *const known_args[] = {"IP", NULL};

static int load(struct cni_request *req, struct hl_config *cfg, struct k8c_error *err)
{
	return hl_config_parse(req->conf, cni_request_arg(req, "IP"), cfg, err);
}

static int cmd_add(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct cni_result res = {0};
	struct hl_config cfg;

	if (load(req, &cfg, err) < 0)
		return -1;
	if (hl_alloc_add(&cfg, NULL, req->container_id, req->ifname, &res, err) < 0) {
		hl_config_free(&cfg);
		return -1;
	}
	*result = cni_result_to_json(&res, req->version);
	cni_result_free(&res);
	hl_config_free(&cfg);
	return 0;
}

static int cmd_del(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct hl_config cfg;
	int r;

	if (load(req, &cfg, err) < 0)
		return -1;
	r = hl_alloc_del(&cfg, NULL, req->container_id, req->ifname, err);
	hl_config_free(&cfg);
	return r;
}

static int cmd_check(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct hl_config cfg;
	int r;

	if (load(req, &cfg, err) < 0)
		return -1;
	r = hl_alloc_check(&cfg, NULL, req->container_id, req->ifname, err);
	hl_config_free(&cfg);
	return r;
}

static bool gc_valid(void *ctx, const char *cid, const char *ifname)
{
	return cni_gc_attachment_valid(ctx, cid, ifname);
}

static int cmd_gc(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct hl_config cfg;
	int r;

	/* Without the list every reservation would look stale: refuse rather than wipe. */
	if (!json_is_array(json_object_get(req->conf, "cni.dev/valid-attachments")) &&
	    !json_is_array(json_object_get(req->conf, "cni.dev/attachments")))
		return k8c_error_set(err, CNI_ERR_INVALID_CONFIG,
				     "GC: \"cni.dev/valid-attachments\" missing or not an array");
	if (load(req, &cfg, err) < 0)
		return -1;
	r = hl_alloc_gc(&cfg, NULL, gc_valid, req, err);
	hl_config_free(&cfg);
	return r < 0 ? -1 : 0;
}

static int cmd_status(struct cni_request *req, json_t **result, struct k8c_error *err)
{
	struct hl_config cfg;
	int r;

	if (load(req, &cfg, err) < 0)
		return -1;
	r = hl_alloc_status(&cfg, err);
	hl_config_free(&cfg);
	return r;
}

const struct cni_plugin hostlocal_plugin = {
	.name = "k8c-host-local",
	.about = "IPAM plugin: allocates addresses from ranges to containers and keeps them in "
		 "files under dataDir (default " HL_DEFAULT_DATA_DIR "), compatible with the "
		 "reference host-local. Extra ipam key: lockTimeoutMs (default 10000).",
	.known_args = known_args,
	.needs_netns = true,
	.add = cmd_add,
	.del = cmd_del,
	.check = cmd_check,
	.status = cmd_status,
	.gc = cmd_gc,
};
