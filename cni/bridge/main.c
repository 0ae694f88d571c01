#include "bridge.h"
#include "hostlocal.h"
#include "ipam_exec.h"

int main(int argc, char **argv)
{
	/* IPAM by k8c-host-local runs in this process: one exec per ADD instead of two. */
	cni_ipam_register_builtin(&hostlocal_plugin);
	return cni_plugin_main(&bridge_plugin, argc, argv);
}
