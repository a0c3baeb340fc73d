/** Errors of the Docker engine berth drives and, with `engine swarm`, the Swarm and its nodes. */
export const NODES_ERRORS = {
  DOCKER_UNREACHABLE:
    'No Docker engine answers at the address berth uses: start it (systemctl start docker), or point DOCKER_HOST / config docker.host at one.',
  DOCKER_DENIED: 'The Docker engine refused berth: run berth as a user in the docker group, or as root.',
  DOCKER_ERROR: 'The Docker engine refused or failed an operation: the message says which; see the engine log (journalctl -u docker).',
  DOCKER_HOST_KEY_UNKNOWN:
    "An ssh:// engine's host key is not in known_hosts (or differs): connect once with ssh, check the key, and try again.",
  DOCKER_CONTEXT_NOT_FOUND:
    'There is no Docker context of that name: make it with docker context create, or give ssh://USER@HOST or tcp://HOST:2376.',
  DOCKER_CONTEXT_INVALID: 'The Docker context has no engine address: recreate it with docker context create.',
  INVALID_ENDPOINT:
    'That is not a Docker engine address or context name: give a context name, ssh://USER@HOST, tcp://HOST:2376 or unix:///path.',
  ENGINE_TLS_MISSING:
    'A tcp:// engine needs ca.pem, cert.pem and key.pem in its TLS folder and one cannot be read: put them there, or give another --tls-dir.',
  ENGINE_TIMEOUT:
    'The engine did not finish in time (an exit code, a service starting or stopping): the command may still run; see docker service ps.',
  TIMEOUT: 'A helper container berth runs on an engine took too long: try again.',
  NOT_SWARM: 'Nodes and `vm move` are Swarm notions and config engine is local: run berth on a Swarm manager with config engine swarm.',
  NOT_A_SWARM_MANAGER: 'config engine is swarm but the engine is not a Swarm manager: run berth on a manager, or set config engine local.',
  NOT_ON_SWARM:
    'The plan asks for what berth cannot give a VM on Swarm (sudo, all GPUs, disk or rootfs quotas): the hint says which to drop.',
  SWARM_ERROR: 'The Swarm manager refused or failed an operation: see the message and the manager engine log.',
  NODE_NOT_FOUND: 'There is no Swarm node of that name or id: see `berth node list`.',
  NODE_AMBIGUOUS: 'Several Swarm nodes have that name: name the node by its id (`berth node list --json`).',
  NODE_DOWN: "The engine of the VM's node does not answer, so its VMs cannot be reached now: check the node and `berth node show NODE`.",
  NODE_ENGINE_UNKNOWN: "berth does not know how to reach that node's engine: tell it, `berth node engine NODE ENDPOINT`.",
  NODE_ENGINE_UNREACHABLE: 'No engine answers at the endpoint given for the node, so nothing was stored: check the address and try again.',
  NODE_ENGINE_MISMATCH:
    "The engine at that endpoint is not the node's own engine, so nothing was stored: give the address of that node's engine.",
  NODE_UNFIT:
    'The node cannot take VMs (daemon defaults missing, engine unreachable): fix what `berth node show NODE` says, then try again.',
  NODE_FIREWALL_FAILED: "berth's firewall rules could not be installed on any node that could take the VM: see `berth network status`.",
  NO_NODE_FITS:
    'No Swarm node has room for the VM (CPU, memory or GPUs reserved): stop or destroy VMs, add or activate a node, or pick a smaller plan.',
  HARDENING_LOST:
    "The VM's container on its node lacks hardening berth requires, so it was stopped or removed: fix the node's daemon (`berth node show`), then rebuild or move the VM.",
  VM_TASK_FAILED: 'Swarm could not run the VM on its node: see `berth node show` and the node engine log.',
  VM_SERVICE_MISSING: "The VM's Swarm service is gone: recreate it with `berth vm rebuild`.",
  VM_NOT_ON_SWARM: 'The VM is a container from before engine swarm and cannot move: make it a service first with `berth vm rebuild`.',
  VM_ALREADY_THERE: 'The VM is on that node already: nothing to do.',
  COPY_STALLED:
    'Copying a home between nodes passed no bytes for too long, so the move was given up and the VM left on its old node: check the engines and the network, then try again.',
} as const;
