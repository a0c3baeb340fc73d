/** Errors of VM networking: the VMs' Docker network, the egress policy and the host firewall that enforces it. */
export const NETWORK_ERRORS = {
  INVALID_NETWORK_POLICY:
    'A network.* value is malformed (an address range, a port, a list too long): the hint shows the form, e.g. tcp/443@203.0.113.0/24.',
  NETWORK_NOT_ISOLATED:
    'The Docker network berth was told to use lets containers reach each other: point docker.network at a new name (berth makes it isolated), or remove it.',
  NETWORK_MISSING: "The VMs' Docker network could not be made: run `berth doctor` (on Swarm, `berth node show` on the node).",
  FIREWALL_UNAVAILABLE:
    'The host firewall cannot be read or changed (iptables missing, no root, a tool failed): install iptables and run berth as root, or set network.firewall off.',
  FIREWALL_UNSUPPORTED:
    "Docker uses its nftables firewall backend, and berth's rules need the iptables one: run dockerd with the iptables backend, or set network.firewall off.",
  FIREWALL_LOCKED:
    'Another berth process has held the firewall lock for too long: try again; if no berth process runs, remove the lock file named.',
  FIREWALL_BAD_BRIDGE:
    "The network's bridge name is not an interface name: point docker.network at a new name; berth makes it with a proper bridge.",
  FIREWALL_BAD_INSTANCE: 'The state file has no valid instance id to name the firewall chains after: run `berth doctor`.',
} as const;
