"""Hand-written supplement to the python3-kubernetes 22.6 models (Kubernetes 1.22) for
gen_api_schema.py. Written for k8c from the Kubernetes API conventions and the k8s.io/api
type definitions of later releases; see docs/apiserver.md "OpenAPI and field validation".

Python-model type grammar: str int float bool datetime object, list[T], dict(str, T), a model
class name, plus: int-or-string, quantity, bytes, any, time.
"""
import re

# The served kinds: (group, version, kind, model class). Order decides which OpenAPI package a
# shared nested type lands in (the first kind reaching it), so the core group comes first.
KINDS = [
    ('', 'v1', 'Namespace', 'V1Namespace'),
    ('', 'v1', 'ConfigMap', 'V1ConfigMap'),
    ('', 'v1', 'Secret', 'V1Secret'),
    ('', 'v1', 'ServiceAccount', 'V1ServiceAccount'),
    ('', 'v1', 'Service', 'V1Service'),
    ('', 'v1', 'Endpoints', 'V1Endpoints'),
    ('', 'v1', 'Pod', 'V1Pod'),
    ('', 'v1', 'Event', 'CoreV1Event'),
    ('', 'v1', 'Node', 'V1Node'),
    ('', 'v1', 'PersistentVolume', 'V1PersistentVolume'),
    ('', 'v1', 'PersistentVolumeClaim', 'V1PersistentVolumeClaim'),
    ('', 'v1', 'ResourceQuota', 'V1ResourceQuota'),
    ('', 'v1', 'LimitRange', 'V1LimitRange'),
    ('', 'v1', 'ReplicationController', 'V1ReplicationController'),
    ('apps', 'v1', 'Deployment', 'V1Deployment'),
    ('apps', 'v1', 'ReplicaSet', 'V1ReplicaSet'),
    ('apps', 'v1', 'DaemonSet', 'V1DaemonSet'),
    ('apps', 'v1', 'StatefulSet', 'V1StatefulSet'),
    ('apps', 'v1', 'ControllerRevision', 'V1ControllerRevision'),
    ('autoscaling', 'v1', 'Scale', 'V1Scale'),
    ('networking.k8s.io', 'v1', 'Ingress', 'V1Ingress'),
    ('networking.k8s.io', 'v1', 'IngressClass', 'V1IngressClass'),
    ('networking.k8s.io', 'v1', 'NetworkPolicy', 'V1NetworkPolicy'),
    ('discovery.k8s.io', 'v1', 'EndpointSlice', 'V1EndpointSlice'),
    ('storage.k8s.io', 'v1', 'StorageClass', 'V1StorageClass'),
    ('coordination.k8s.io', 'v1', 'Lease', 'V1Lease'),
    ('events.k8s.io', 'v1', 'Event', 'EventsV1Event'),
    ('rbac.authorization.k8s.io', 'v1', 'Role', 'V1Role'),
    ('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'V1ClusterRole'),
    ('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'V1RoleBinding'),
    ('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'V1ClusterRoleBinding'),
    ('extensions', 'v1beta1', 'Ingress', 'ExtensionsV1beta1Ingress'),
]

GROUP_PACKAGES = {
    ('', 'v1'): 'io.k8s.api.core.v1',
    ('apps', 'v1'): 'io.k8s.api.apps.v1',
    ('autoscaling', 'v1'): 'io.k8s.api.autoscaling.v1',
    ('networking.k8s.io', 'v1'): 'io.k8s.api.networking.v1',
    ('discovery.k8s.io', 'v1'): 'io.k8s.api.discovery.v1',
    ('storage.k8s.io', 'v1'): 'io.k8s.api.storage.v1',
    ('coordination.k8s.io', 'v1'): 'io.k8s.api.coordination.v1',
    ('events.k8s.io', 'v1'): 'io.k8s.api.events.v1',
    ('rbac.authorization.k8s.io', 'v1'): 'io.k8s.api.rbac.v1',
    ('extensions', 'v1beta1'): 'io.k8s.api.extensions.v1beta1',
}

META = 'io.k8s.apimachinery.pkg.apis.meta.v1'
CORE = 'io.k8s.api.core.v1'

# Types whose package is not the one of the first kind reaching them.
PACKAGES = {
    'V1ObjectMeta': META,
    'V1ManagedFieldsEntry': META,
    'V1OwnerReference': META,
    'V1LabelSelector': META,
    'V1LabelSelectorRequirement': META,
    'V1Condition': META,
    'V1TopologySelectorTerm': CORE,
    'V1TopologySelectorLabelRequirement': CORE,
    'V1LoadBalancerStatus': CORE,
    'V1LoadBalancerIngress': CORE,
    'V1PortStatus': CORE,
}


def short_name(cname):
    """V1PodSpec -> PodSpec, CoreV1Event -> Event, ExtensionsV1beta1Ingress -> Ingress."""
    m = re.fullmatch(r'(?:[A-Z][a-z]+)?V\d+(?:(?:alpha|beta)\d+)?([A-Z]\w*)', cname)
    return m.group(1) if m else cname

# OpenAPI names that differ from the model class's (renamed after 1.22).
NAMES = {
    'V1Handler': 'LifecycleHandler',
}

# Descriptions of the kinds and of a few nested types (the models carry field descriptions
# only; other nested types have none, `kubectl explain` shows the field's).
TYPE_DESCRIPTIONS = {
    'V1Namespace': 'Namespace provides a scope for Names. Use of multiple namespaces is optional.',
    'V1ConfigMap': 'ConfigMap holds configuration data for pods to consume.',
    'V1Secret': 'Secret holds secret data of a certain type. The total bytes of the values in '
                'the Data field must be less than MaxSecretSize bytes.',
    'V1ServiceAccount': 'ServiceAccount binds together: * a name, understood by users, and '
                        'perhaps by peripheral systems, for an identity * a principal that can '
                        'be authenticated and authorized * a set of secrets',
    'V1Service': 'Service is a named abstraction of software service (for example, mysql) '
                 'consisting of local port (for example 3306) that the proxy listens on, and '
                 'the selector that determines which pods will answer requests sent through '
                 'the proxy.',
    'V1Endpoints': 'Endpoints is a collection of endpoints that implement the actual service.',
    'V1Pod': 'Pod is a collection of containers that can run on a host. This resource is '
             'created by clients and scheduled onto hosts.',
    'CoreV1Event': 'Event is a report of an event somewhere in the cluster.',
    'V1Node': 'Node is a worker node in Kubernetes. Each node will have a unique identifier in '
              'the cache (i.e. in etcd).',
    'V1PersistentVolume': 'PersistentVolume (PV) is a storage resource provisioned by an '
                          'administrator. It is analogous to a node.',
    'V1PersistentVolumeClaim': "PersistentVolumeClaim is a user's request for and claim to a "
                               'persistent volume',
    'V1ResourceQuota': 'ResourceQuota sets aggregate quota restrictions enforced per namespace',
    'V1LimitRange': 'LimitRange sets resource usage limits for each kind of resource in a '
                    'Namespace.',
    'V1ReplicationController': 'ReplicationController represents the configuration of a '
                               'replication controller.',
    'V1Deployment': 'Deployment enables declarative updates for Pods and ReplicaSets.',
    'V1ReplicaSet': 'ReplicaSet ensures that a specified number of pod replicas are running at '
                    'any given time.',
    'V1DaemonSet': 'DaemonSet represents the configuration of a daemon set.',
    'V1StatefulSet': 'StatefulSet represents a set of pods with consistent identities.',
    'V1ControllerRevision': 'ControllerRevision implements an immutable snapshot of state data.',
    'V1Scale': 'Scale represents a scaling request for a resource.',
    'V1Ingress': 'Ingress is a collection of rules that allow inbound connections to reach the '
                 'endpoints defined by a backend.',
    'V1IngressClass': 'IngressClass represents the class of the Ingress, referenced by the '
                      'Ingress Spec.',
    'V1NetworkPolicy': 'NetworkPolicy describes what network traffic is allowed for a set of '
                       'Pods',
    'V1EndpointSlice': 'EndpointSlice represents a subset of the endpoints that implement a '
                       'service.',
    'V1StorageClass': 'StorageClass describes the parameters for a class of storage for which '
                      'PersistentVolumes can be dynamically provisioned.',
    'V1Lease': 'Lease defines a lease concept.',
    'EventsV1Event': 'Event is a report of an event somewhere in the cluster. It generally '
                     'denotes some state change in the system.',
    'V1Role': 'Role is a namespaced, logical grouping of PolicyRules that can be referenced as '
              'a unit by a RoleBinding.',
    'V1ClusterRole': 'ClusterRole is a cluster level, logical grouping of PolicyRules that can '
                     'be referenced as a unit by a RoleBinding or ClusterRoleBinding.',
    'V1RoleBinding': 'RoleBinding references a role, but does not contain it. It can reference '
                     'a Role in the same namespace or a ClusterRole in the global namespace.',
    'V1ClusterRoleBinding': 'ClusterRoleBinding references a ClusterRole, but not contain it.',
    'V1PodSpec': 'PodSpec is a description of a pod.',
    'V1PodTemplateSpec': 'PodTemplateSpec describes the data a pod should have when created '
                         'from a template',
    'V1Container': 'A single application container that you want to run within a pod.',
    'V1ContainerPort': 'ContainerPort represents a network port in a single container.',
    'V1DeploymentSpec': 'DeploymentSpec is the specification of the desired behavior of the '
                        'Deployment.',
    'V1ServiceSpec': 'ServiceSpec describes the attributes that a user creates on a service.',
    'V1ServicePort': "ServicePort contains information on service's port.",
    'V1LabelSelector': 'A label selector is a label query over a set of resources. The result '
                       'of matchLabels and matchExpressions are ANDed. An empty label selector '
                       'matches all objects. A null label selector matches no objects.',
    'V1ObjectMeta': 'ObjectMeta is metadata that all persisted resources must have, which '
                    'includes all objects users must create.',
}

# Fields whose model type is too loose: Kubernetes' IntOrString and RawExtension are both
# `object` in the models, Quantity and ResourceList are strings, []byte maps are string maps.
TYPE_OVERRIDES = {
    ('V1ServicePort', 'targetPort'): 'int-or-string',
    ('V1HTTPGetAction', 'port'): 'int-or-string',
    ('V1TCPSocketAction', 'port'): 'int-or-string',
    ('V1RollingUpdateDeployment', 'maxSurge'): 'int-or-string',
    ('V1RollingUpdateDeployment', 'maxUnavailable'): 'int-or-string',
    ('V1RollingUpdateDaemonSet', 'maxSurge'): 'int-or-string',
    ('V1RollingUpdateDaemonSet', 'maxUnavailable'): 'int-or-string',
    ('V1NetworkPolicyPort', 'port'): 'int-or-string',
    ('V1ConfigMap', 'binaryData'): 'dict(str, bytes)',
    ('V1Secret', 'data'): 'dict(str, bytes)',
    ('V1PodSpec', 'overhead'): 'dict(str, quantity)',
    ('V1ResourceFieldSelector', 'divisor'): 'quantity',
    ('V1ResourceRequirements', 'limits'): 'dict(str, quantity)',
    ('V1ResourceRequirements', 'requests'): 'dict(str, quantity)',
    ('V1EmptyDirVolumeSource', 'sizeLimit'): 'quantity',
    ('V1NodeStatus', 'allocatable'): 'dict(str, quantity)',
    ('V1NodeStatus', 'capacity'): 'dict(str, quantity)',
    ('V1PersistentVolumeSpec', 'capacity'): 'dict(str, quantity)',
    ('V1PersistentVolumeClaimStatus', 'capacity'): 'dict(str, quantity)',
    ('V1ResourceQuotaSpec', 'hard'): 'dict(str, quantity)',
    ('V1ResourceQuotaStatus', 'hard'): 'dict(str, quantity)',
    ('V1ResourceQuotaStatus', 'used'): 'dict(str, quantity)',
    ('V1LimitRangeItem', 'default'): 'dict(str, quantity)',
    ('V1LimitRangeItem', 'defaultRequest'): 'dict(str, quantity)',
    ('V1LimitRangeItem', 'max'): 'dict(str, quantity)',
    ('V1LimitRangeItem', 'maxLimitRequestRatio'): 'dict(str, quantity)',
    ('V1LimitRangeItem', 'min'): 'dict(str, quantity)',
    # networking.k8s.io/v1 IngressStatus has its own load-balancer types since 1.26
    ('V1IngressStatus', 'loadBalancer'): 'V1IngressLoadBalancerStatus',
}

# Strategic-merge-patch tags of k8s.io/api (patchStrategy, patchMergeKey) by (model, JSON field).
# Lists without a tag are atomic (replaced whole), maps merge key by key.
PATCH = {
    ('V1ObjectMeta', 'finalizers'): ('merge', None),
    ('V1ObjectMeta', 'ownerReferences'): ('merge', 'uid'),
    ('V1PodSpec', 'volumes'): ('merge,retainKeys', 'name'),
    ('V1PodSpec', 'initContainers'): ('merge', 'name'),
    ('V1PodSpec', 'containers'): ('merge', 'name'),
    ('V1PodSpec', 'ephemeralContainers'): ('merge', 'name'),
    ('V1PodSpec', 'imagePullSecrets'): ('merge', 'name'),
    ('V1PodSpec', 'hostAliases'): ('merge', 'ip'),
    ('V1PodSpec', 'topologySpreadConstraints'): ('merge', 'topologyKey'),
    ('V1PodSpec', 'schedulingGates'): ('merge', 'name'),
    ('V1PodSpec', 'resourceClaims'): ('merge,retainKeys', 'name'),
    ('V1PodSpec', 'evictionResponders'): ('merge', 'name'),
    ('V1Container', 'ports'): ('merge', 'containerPort'),
    ('V1Container', 'env'): ('merge', 'name'),
    ('V1Container', 'volumeMounts'): ('merge', 'mountPath'),
    ('V1Container', 'volumeDevices'): ('merge', 'devicePath'),
    ('V1EphemeralContainer', 'ports'): ('merge', 'containerPort'),
    ('V1EphemeralContainer', 'env'): ('merge', 'name'),
    ('V1EphemeralContainer', 'volumeMounts'): ('merge', 'mountPath'),
    ('V1EphemeralContainer', 'volumeDevices'): ('merge', 'devicePath'),
    ('V1ContainerStatus', 'volumeMounts'): ('merge', 'mountPath'),
    ('V1ContainerStatus', 'allocatedResourcesStatus'): ('merge', 'name'),
    ('V1PodStatus', 'conditions'): ('merge', 'type'),
    ('V1PodStatus', 'hostIPs'): ('merge', 'ip'),
    ('V1PodStatus', 'podIPs'): ('merge', 'ip'),
    ('V1PodStatus', 'resourceClaimStatuses'): ('merge,retainKeys', 'name'),
    ('V1PodStatus', 'nodeAllocatableResourceClaimStatuses'): ('merge', 'resourceClaimName'),
    ('V1PersistentVolumeClaimStatus', 'conditions'): ('merge', 'type'),
    ('V1ReplicationControllerStatus', 'conditions'): ('merge', 'type'),
    ('V1ServiceSpec', 'ports'): ('merge', 'port'),
    ('V1ServiceStatus', 'conditions'): ('merge', 'type'),
    ('V1ServiceAccount', 'secrets'): ('merge', 'name'),
    ('V1NodeSpec', 'podCIDRs'): ('merge', None),
    ('V1NodeStatus', 'conditions'): ('merge', 'type'),
    ('V1NodeStatus', 'addresses'): ('merge', 'type'),
    ('V1NamespaceStatus', 'conditions'): ('merge', 'type'),
    ('V1DeploymentSpec', 'strategy'): ('retainKeys', None),
    ('V1DeploymentStatus', 'conditions'): ('merge', 'type'),
    ('V1ReplicaSetStatus', 'conditions'): ('merge', 'type'),
    ('V1DaemonSetStatus', 'conditions'): ('merge', 'type'),
    ('V1StatefulSetStatus', 'conditions'): ('merge', 'type'),
}

# Fields added to the served kinds after Kubernetes 1.22: model -> [(JSON name, type,
# description[, required])].
ADD_FIELDS = {
    'V1ResourceQuotaStatus': [
        ('k8cPendingCharges', 'any', 'k8c: the creates the quota admission charged that the '
         'resourcequota controller has not seen yet, by "<resource>/<name>" (uid, at, used); '
         'see docs/controllers.md.'),
    ],
    'V1PodSpec': [
        ('os', 'V1PodOS', 'Specifies the OS of the containers in the pod (linux or windows).'),
        ('hostUsers', 'bool', 'Use the host\'s user namespace (default true); false creates a '
         'new user namespace for the pod.'),
        ('schedulingGates', 'list[V1PodSchedulingGate]', 'Gates that block scheduling of the '
         'pod while any is present.'),
        ('resourceClaims', 'list[V1PodResourceClaim]', 'ResourceClaims that must be allocated '
         'and reserved before the pod is allowed to start (dynamic resource allocation).'),
        ('resources', 'V1ResourceRequirements', 'Total resources of the pod (pod-level '
         'resources), shared by its containers.'),
        ('hostnameOverride', 'str', 'Overrides the hostname of the pod.'),
        ('schedulingGroup', 'V1PodSchedulingGroup', 'The scheduling group of the pod (alpha).'),
        ('evictionResponders', 'list[V1EvictionResponder]', 'Responders to eviction (alpha).'),
    ],
    'V1Container': [
        ('resizePolicy', 'list[V1ContainerResizePolicy]', 'Resources resize policy for the '
         'container.'),
        ('restartPolicy', 'str', 'Restart behavior of an init container: "Always" makes it a '
         'sidecar that keeps running during the pod\'s life.'),
        ('restartPolicyRules', 'list[V1ContainerRestartRule]', 'Rules deciding whether the '
         'container restarts when it exits.'),
    ],
    'V1EphemeralContainer': [
        ('resizePolicy', 'list[V1ContainerResizePolicy]', 'Not allowed for ephemeral '
         'containers.'),
        ('restartPolicy', 'str', 'Not allowed for ephemeral containers.'),
        ('restartPolicyRules', 'list[V1ContainerRestartRule]', 'Not allowed for ephemeral '
         'containers.'),
    ],
    'V1ServiceSpec': [
        ('trafficDistribution', 'str', 'How traffic is distributed to Service endpoints, '
         'e.g. "PreferClose" (topologically proximate endpoints first).'),
    ],
    'V1LoadBalancerIngress': [
        ('ipMode', 'str', 'How the load-balancer IP behaves: "VIP" or "Proxy".'),
    ],
    'V1PodAffinityTerm': [
        ('matchLabelKeys', 'list[str]', 'Pod label keys whose values, taken from the incoming '
         'pod, are merged into labelSelector.'),
        ('mismatchLabelKeys', 'list[str]', 'Pod label keys whose values, taken from the '
         'incoming pod, are merged into labelSelector as not-in requirements.'),
    ],
    'V1EnvVarSource': [
        ('fileKeyRef', 'V1FileKeySelector', 'Selects a key of an env file.'),
    ],
    'V1Lifecycle': [
        ('stopSignal', 'str', 'The signal sent to stop the container.'),
    ],
    'V1Handler': [
        ('sleep', 'V1SleepAction', 'Sleep for a number of seconds before the container is '
         'terminated.'),
    ],
    'V1HTTPGetAction': [
        ('protocol', 'str', 'Protocol of the request.'),
    ],
    'V1Probe': [
        ('grpc', 'V1GRPCAction', 'GRPC specifies a GRPC HealthCheckRequest.'),
    ],
    'V1ResourceRequirements': [
        ('claims', 'list[V1ResourceClaim]', 'The names of resources, defined in '
         'spec.resourceClaims, that are used by this container.'),
    ],
    'V1SecurityContext': [
        ('appArmorProfile', 'V1AppArmorProfile', 'The AppArmor options of this container.'),
    ],
    'V1PodSecurityContext': [
        ('supplementalGroupsPolicy', 'str', 'How supplemental groups of the first container '
         'processes are calculated: "Merge" or "Strict".'),
        ('appArmorProfile', 'V1AppArmorProfile', 'The AppArmor options of the pod\'s '
         'containers.'),
        ('seLinuxChangePolicy', 'str', 'How the container\'s SELinux label is applied to the '
         'volumes: "Recursive" or "MountOption".'),
    ],
    'V1TopologySpreadConstraint': [
        ('minDomains', 'int', 'Minimum number of eligible domains.'),
        ('nodeAffinityPolicy', 'str', 'How nodeAffinity/nodeSelector count when calculating '
         'the skew: "Honor" or "Ignore".'),
        ('nodeTaintsPolicy', 'str', 'How node taints count when calculating the skew: "Honor" '
         'or "Ignore".'),
        ('matchLabelKeys', 'list[str]', 'Pod label keys selecting the pods the spreading is '
         'calculated over.'),
    ],
    'V1Volume': [
        ('image', 'V1ImageVolumeSource', 'An OCI object (a container image or artifact) pulled '
         'and mounted on the host.'),
    ],
    'V1ConfigMapVolumeSource': [('defaultUser', 'int', 'Owner of the files (alpha).')],
    'V1SecretVolumeSource': [('defaultUser', 'int', 'Owner of the files (alpha).')],
    'V1DownwardAPIVolumeSource': [('defaultUser', 'int', 'Owner of the files (alpha).')],
    'V1ProjectedVolumeSource': [('defaultUser', 'int', 'Owner of the files (alpha).')],
    'V1KeyToPath': [('user', 'int', 'Owner of the file (alpha).')],
    'V1DownwardAPIVolumeFile': [('user', 'int', 'Owner of the file (alpha).')],
    'V1ServiceAccountTokenProjection': [('user', 'int', 'Owner of the file (alpha).')],
    'V1EmptyDirVolumeSource': [('mode', 'int', 'Mode bits of the directory (alpha).')],
    'V1VolumeMount': [
        ('recursiveReadOnly', 'str', 'Whether read-only mounts are recursively read-only: '
         '"Disabled", "IfPossible" or "Enabled".'),
        ('bindMountOptions', 'list[str]', 'Options of the bind mount (alpha).'),
    ],
    'V1VolumeProjection': [
        ('clusterTrustBundle', 'V1ClusterTrustBundleProjection', 'A ClusterTrustBundle '
         'projected into a file.'),
        ('podCertificate', 'V1PodCertificateProjection', 'A pod certificate projected into '
         'files.'),
    ],
    'V1PodStatus': [
        ('observedGeneration', 'int', 'The .metadata.generation the status was set for.'),
        ('hostIPs', 'list[V1HostIP]', 'IP addresses of the host the pod is assigned to.'),
        ('resize', 'str', 'Status of a resize of the pod\'s resources.'),
        ('resourceClaimStatuses', 'list[V1PodResourceClaimStatus]', 'Status of the resource '
         'claims.'),
        ('extendedResourceClaimStatus', 'V1PodExtendedResourceClaimStatus', 'Status of the '
         'extended resource claim (alpha).'),
        ('allocatedResources', 'dict(str, quantity)', 'Resources allocated to the pod.'),
        ('resources', 'V1ResourceRequirements', 'Actual resources of the pod.'),
        ('nodeAllocatableResourceClaimStatuses',
         'list[V1NodeAllocatableResourceClaimStatus]', 'Node-allocatable resource claims '
         '(alpha).'),
        ('volumeHealth', 'list[V1PodVolumeHealth]', 'Health of the pod\'s volumes (alpha).'),
    ],
    'V1PodCondition': [
        ('observedGeneration', 'int', 'The .metadata.generation the condition was set for.'),
    ],
    'V1ContainerStatus': [
        ('allocatedResources', 'dict(str, quantity)', 'Compute resources allocated to the '
         'container by the node.'),
        ('resources', 'V1ResourceRequirements', 'Compute resources configured for the running '
         'container.'),
        ('volumeMounts', 'list[V1VolumeMountStatus]', 'Status of the volume mounts.'),
        ('user', 'V1ContainerUser', 'Identities of the first process of the container.'),
        ('allocatedResourcesStatus', 'list[V1ResourceStatus]', 'Health of the resources '
         'allocated to the container.'),
        ('stopSignal', 'str', 'The signal sent to stop the container.'),
    ],
    'V1NodeSpec': [
        ('podPreemptionPolicy', 'str', 'Pod preemption policy of the node (alpha).'),
    ],
    'V1NodeStatus': [
        ('runtimeHandlers', 'list[V1NodeRuntimeHandler]', 'The available runtime handlers.'),
        ('features', 'V1NodeFeatures', 'Features implemented by the CRI.'),
        ('declaredFeatures', 'list[str]', 'Features declared by the node (alpha).'),
    ],
    'V1NodeSystemInfo': [
        ('swap', 'V1NodeSwapStatus', 'Swap memory of the node.'),
    ],
    'V1PersistentVolumeSpec': [
        ('volumeAttributesClassName', 'str', 'Name of the VolumeAttributesClass of the '
         'volume.'),
    ],
    'V1CSIPersistentVolumeSource': [
        ('nodeExpandSecretRef', 'V1SecretReference', 'Secret passed to the CSI driver\'s '
         'NodeExpandVolume call.'),
    ],
    'V1PersistentVolumeStatus': [
        ('lastPhaseTransitionTime', 'time', 'When the volume last changed phase.'),
    ],
    'V1PersistentVolumeClaimSpec': [
        ('volumeAttributesClassName', 'str', 'Name of the VolumeAttributesClass wanted.'),
    ],
    'V1PersistentVolumeClaimStatus': [
        ('allocatedResources', 'dict(str, quantity)', 'Resources allocated to the claim.'),
        ('allocatedResourceStatuses', 'dict(str, str)', 'Status of resize operations by '
         'resource.'),
        ('currentVolumeAttributesClassName', 'str', 'Current VolumeAttributesClass of the '
         'volume.'),
        ('modifyVolumeStatus', 'V1ModifyVolumeStatus', 'Status of a modification of the '
         'volume.'),
        ('healthStatus', 'V1VolumeHealthStatus', 'Health of the volume (alpha).'),
    ],
    'V1DeploymentStatus': [
        ('terminatingReplicas', 'int', 'Number of terminating pods of the deployment.'),
    ],
    'V1ReplicaSetStatus': [
        ('terminatingReplicas', 'int', 'Number of terminating pods of the replica set.'),
    ],
    'V1StatefulSetSpec': [
        ('persistentVolumeClaimRetentionPolicy',
         'V1StatefulSetPersistentVolumeClaimRetentionPolicy', 'Lifecycle of the claims '
         'created from volumeClaimTemplates.'),
        ('ordinals', 'V1StatefulSetOrdinals', 'The start of the replicas\' ordinals.'),
    ],
    'V1RollingUpdateStatefulSetStrategy': [
        ('maxUnavailable', 'int-or-string', 'Maximum number of pods that can be unavailable '
         'during the update: a number or a percentage.'),
    ],
    'V1EndpointHints': [
        ('forNodes', 'list[V1ForNode]', 'Nodes that should consume this endpoint.'),
    ],
    'V1LeaseSpec': [
        ('strategy', 'str', 'Strategy for picking the leader of a coordinated election.'),
        ('preferredHolder', 'str', 'The holder the lease is expected to change to.'),
    ],
}

# Types added after 1.22 (or served here without a 1.22 model): class -> (OpenAPI package,
# description, [(JSON name, type, description[, required])]).
NEW_TYPES = {
    'V1PodOS': (CORE, 'PodOS defines the OS parameters of a pod.', [
        ('name', 'str', 'The name of the operating system: linux or windows.', True),
    ]),
    'V1PodSchedulingGate': (CORE, 'PodSchedulingGate is associated to a Pod to guard its '
                            'scheduling.', [
        ('name', 'str', 'Name of the scheduling gate.', True),
    ]),
    'V1PodResourceClaim': (CORE, 'PodResourceClaim references exactly one ResourceClaim.', [
        ('name', 'str', 'Name of this claim inside the pod.', True),
        ('resourceClaimName', 'str', 'Name of a ResourceClaim in the pod\'s namespace.'),
        ('resourceClaimTemplateName', 'str', 'Name of a ResourceClaimTemplate to create the '
         'claim from.'),
        ('source', 'any', 'Where to find the claim (Kubernetes 1.26-1.28).'),
    ]),
    'V1PodResourceClaimStatus': (CORE, 'Status of a pod resource claim.', [
        ('name', 'str', 'Name of the claim in spec.resourceClaims.', True),
        ('resourceClaimName', 'str', 'Name of the ResourceClaim generated for the pod.'),
    ]),
    'V1ContainerResizePolicy': (CORE, 'ContainerResizePolicy represents resource resize '
                                'policy for the container.', [
        ('resourceName', 'str', 'Name of the resource: cpu or memory.', True),
        ('restartPolicy', 'str', 'Restart policy on resize: NotRequired or RestartContainer.',
         True),
    ]),
    'V1ContainerRestartRule': (CORE, 'ContainerRestartRule describes how a container exit is '
                               'handled.', [
        ('action', 'str', 'What to do when the rule matches: "Restart".', True),
        ('exitCodes', 'V1ContainerRestartRuleOnExitCodes', 'Exit codes the rule matches.'),
    ]),
    'V1ContainerRestartRuleOnExitCodes': (CORE, 'Exit codes a restart rule matches.', [
        ('operator', 'str', 'In or NotIn.', True),
        ('values', 'list[int]', 'The exit codes.'),
    ]),
    'V1ResourceClaim': (CORE, 'ResourceClaim references one entry in PodSpec.ResourceClaims.', [
        ('name', 'str', 'Name of an entry of pod.spec.resourceClaims.', True),
        ('request', 'str', 'Name of a request of the claim.'),
    ]),
    'V1AppArmorProfile': (CORE, 'AppArmorProfile defines a pod or container\'s AppArmor '
                          'settings.', [
        ('type', 'str', 'Localhost, RuntimeDefault or Unconfined.', True),
        ('localhostProfile', 'str', 'A profile loaded on the node (type Localhost).'),
    ]),
    'V1GRPCAction': (CORE, 'GRPCAction specifies an action involving a GRPC service.', [
        ('port', 'int', 'Port number of the gRPC service.', True),
        ('service', 'str', 'Name of the service in the HealthCheckRequest.'),
        ('mode', 'str', 'Probe mode (alpha).'),
    ]),
    'V1SleepAction': (CORE, 'SleepAction describes a "sleep" action.', [
        ('seconds', 'int', 'Seconds to sleep.', True),
    ]),
    'V1ImageVolumeSource': (CORE, 'ImageVolumeSource represents an image volume resource.', [
        ('reference', 'str', 'Image or artifact reference.'),
        ('pullPolicy', 'str', 'Always, Never or IfNotPresent.'),
    ]),
    'V1FileKeySelector': (CORE, 'FileKeySelector selects a key of an env file.', [
        ('volumeName', 'str', 'Name of the volume holding the file.', True),
        ('path', 'str', 'Path of the file in the volume.', True),
        ('key', 'str', 'The key in the file.', True),
        ('optional', 'bool', 'Whether the file or key may be missing.'),
    ]),
    'V1ClusterTrustBundleProjection': (CORE, 'ClusterTrustBundleProjection describes how to '
                                       'select a set of ClusterTrustBundle objects and project '
                                       'their contents into the pod filesystem.', [
        ('name', 'str', 'Select a single ClusterTrustBundle by object name.'),
        ('signerName', 'str', 'Select all ClusterTrustBundles of this signer.'),
        ('labelSelector', 'V1LabelSelector', 'Select ClusterTrustBundles by label.'),
        ('optional', 'bool', 'Whether a missing bundle is an error.'),
        ('path', 'str', 'Relative path of the file.', True),
        ('user', 'int', 'Owner of the file (alpha).'),
    ]),
    'V1HostIP': (CORE, 'HostIP represents a single IP address allocated to the host.', [
        ('ip', 'str', 'IP address of the host.', True),
    ]),
    'V1VolumeMountStatus': (CORE, 'VolumeMountStatus shows status of volume mounts.', [
        ('name', 'str', 'Name of the volume mount.', True),
        ('mountPath', 'str', 'Path of the mount.', True),
        ('readOnly', 'bool', 'Whether the mount is read-only.'),
        ('recursiveReadOnly', 'str', 'Recursive read-only mode of the mount.'),
        ('volumeStatus', 'any', 'Status of the volume (alpha).'),
    ]),
    'V1StatefulSetPersistentVolumeClaimRetentionPolicy': (
        'io.k8s.api.apps.v1', 'What happens to the claims of a StatefulSet.', [
            ('whenDeleted', 'str', 'Retain or Delete when the StatefulSet is deleted.'),
            ('whenScaled', 'str', 'Retain or Delete when the StatefulSet scales down.'),
        ]),
    'V1StatefulSetOrdinals': ('io.k8s.api.apps.v1', 'The ordinals of a StatefulSet\'s '
                              'replicas.', [
        ('start', 'int', 'The number of the first replica.'),
    ]),
    'V1ForNode': ('io.k8s.api.discovery.v1', 'ForNode provides information about which nodes '
                  'should consume this endpoint.', [
        ('name', 'str', 'Name of the node.', True),
    ]),
    'V1IngressLoadBalancerStatus': ('io.k8s.api.networking.v1', 'The status of an Ingress\'s '
                                    'load balancer.', [
        ('ingress', 'list[V1IngressLoadBalancerIngress]', 'Ingress points of the load '
         'balancer.'),
    ]),
    'V1IngressLoadBalancerIngress': ('io.k8s.api.networking.v1', 'An ingress point of the '
                                     'load balancer.', [
        ('ip', 'str', 'IP of the ingress point.'),
        ('hostname', 'str', 'Hostname of the ingress point.'),
        ('ports', 'list[V1IngressPortStatus]', 'Ports of the ingress point.'),
    ]),
    'V1IngressPortStatus': ('io.k8s.api.networking.v1', 'The status of a port.', [
        ('port', 'int', 'Port number.', True),
        ('protocol', 'str', 'TCP, UDP or SCTP.', True),
        ('error', 'str', 'The problem with the port, if any.'),
    ]),
    # Open types: recent or alpha types whose shape k8c does not vouch for; any field passes.
    'V1PodSchedulingGroup': (CORE, 'The scheduling group of a pod (alpha; open).', []),
    'V1EvictionResponder': (CORE, 'A responder to evictions (alpha; open).', []),
    'V1PodCertificateProjection': (CORE, 'A pod certificate projected into files (open).', []),
    'V1PodExtendedResourceClaimStatus': (CORE, 'Extended resource claim status (open).', []),
    'V1NodeAllocatableResourceClaimStatus': (CORE, 'Node-allocatable claim status (open).', []),
    'V1PodVolumeHealth': (CORE, 'Health of a volume of the pod (open).', []),
    'V1ContainerUser': (CORE, 'Identities of a container\'s first process (open).', []),
    'V1ResourceStatus': (CORE, 'Health of an allocated resource (open).', []),
    'V1NodeRuntimeHandler': (CORE, 'A runtime handler of a node (open).', []),
    'V1NodeFeatures': (CORE, 'Features implemented by the CRI (open).', []),
    'V1NodeSwapStatus': (CORE, 'Swap memory of a node (open).', []),
    'V1ModifyVolumeStatus': (CORE, 'Status of a volume modification (open).', []),
    'V1VolumeHealthStatus': (CORE, 'Health of a volume (open).', []),
    # extensions/v1beta1 Ingress (removed in Kubernetes 1.22, served by k8c): the backend is
    # serviceName/servicePort.
    'ExtensionsV1beta1Ingress': ('io.k8s.api.extensions.v1beta1', 'Ingress is a collection of '
                                 'rules that allow inbound connections to reach the endpoints '
                                 'defined by a backend (deprecated version).', [
        ('apiVersion', 'str', 'APIVersion defines the versioned schema of this representation '
         'of an object.'),
        ('kind', 'str', 'Kind is a string value representing the REST resource this object '
         'represents.'),
        ('metadata', 'V1ObjectMeta', 'Standard object\'s metadata.'),
        ('spec', 'ExtensionsV1beta1IngressSpec', 'Spec is the desired state of the Ingress.'),
        ('status', 'ExtensionsV1beta1IngressStatus', 'Status is the current state of the '
         'Ingress.'),
    ]),
    'ExtensionsV1beta1IngressSpec': ('io.k8s.api.extensions.v1beta1', 'IngressSpec describes '
                                     'the Ingress the user wishes to exist.', [
        ('backend', 'ExtensionsV1beta1IngressBackend', 'The default backend for requests no '
         'rule matches.'),
        ('ingressClassName', 'str', 'Name of the IngressClass.'),
        ('rules', 'list[ExtensionsV1beta1IngressRule]', 'Host rules.'),
        ('tls', 'list[ExtensionsV1beta1IngressTLS]', 'TLS configuration.'),
    ]),
    'ExtensionsV1beta1IngressBackend': ('io.k8s.api.extensions.v1beta1', 'IngressBackend '
                                        'describes all endpoints for a given service and port.', [
        ('serviceName', 'str', 'Name of the referenced service.'),
        ('servicePort', 'int-or-string', 'Port of the referenced service: a number or a '
         'name.'),
        ('resource', 'V1TypedLocalObjectReference', 'A resource in the Ingress\'s namespace '
         'instead of a service.'),
    ]),
    'ExtensionsV1beta1IngressRule': ('io.k8s.api.extensions.v1beta1', 'IngressRule maps the '
                                     'paths under a host to backends.', [
        ('host', 'str', 'Fully qualified domain name of a network host.'),
        ('http', 'ExtensionsV1beta1HTTPIngressRuleValue', 'HTTP paths.'),
    ]),
    'ExtensionsV1beta1HTTPIngressRuleValue': ('io.k8s.api.extensions.v1beta1', 'A list of '
                                              'http selectors pointing to backends.', [
        ('paths', 'list[ExtensionsV1beta1HTTPIngressPath]', 'Paths mapped to backends.', True),
    ]),
    'ExtensionsV1beta1HTTPIngressPath': ('io.k8s.api.extensions.v1beta1', 'HTTPIngressPath '
                                         'associates a path with a backend.', [
        ('path', 'str', 'Path matched against the path of an incoming request.'),
        ('pathType', 'str', 'Exact, Prefix or ImplementationSpecific.'),
        ('backend', 'ExtensionsV1beta1IngressBackend', 'Where matching requests go.', True),
    ]),
    'ExtensionsV1beta1IngressTLS': ('io.k8s.api.extensions.v1beta1', 'IngressTLS describes '
                                    'the transport layer security of an Ingress.', [
        ('hosts', 'list[str]', 'Hosts included in the TLS certificate.'),
        ('secretName', 'str', 'Name of the secret holding the certificate.'),
    ]),
    'ExtensionsV1beta1IngressStatus': ('io.k8s.api.extensions.v1beta1', 'IngressStatus '
                                       'describes the current state of the Ingress.', [
        ('loadBalancer', 'V1IngressLoadBalancerStatus', 'The load balancer\'s status.'),
    ]),
}

# Types accepting any field (no unknown-field error inside them).
OPEN = {c for c, v in NEW_TYPES.items() if not v[2]}

# Descriptions of fields the models leave without one (fields of a model type).
FIELD_FALLBACK = {
    'metadata': "Standard object's metadata. More info: https://git.k8s.io/community/"
                'contributors/devel/sig-architecture/api-conventions.md#metadata',
    'spec': 'Spec defines the desired behavior of the KIND. More info: https://git.k8s.io/'
            'community/contributors/devel/sig-architecture/api-conventions.md'
            '#spec-and-status',
    'status': 'Status is the most recently observed status of the KIND, populated by the '
              'system. Read-only. More info: https://git.k8s.io/community/contributors/devel/'
              'sig-architecture/api-conventions.md#spec-and-status',
}
