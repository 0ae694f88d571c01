/* k8c-host-local: the CNI IPAM plugin, a drop-in replacement for the reference host-local. */
#include "hostlocal.h"

int main(int argc, char **argv)
{
	return cni_plugin_main(&hostlocal_plugin, argc, argv);
}
