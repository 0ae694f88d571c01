#include "bridge.h"

int main(int argc, char **argv)
{
	return cni_plugin_main(&bridge_plugin, argc, argv);
}
