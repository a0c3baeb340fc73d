import ipaddr from 'ipaddr.js';

/**
 * The address a limit counts against: IPv4 as is (also when IPv4-mapped), IPv6 by its /64
 * (one host usually holds a whole /64, so single addresses would be free to rotate). The SSH
 * gateway's and the web server's per-source limits both count by it.
 */
export function sourceKey(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}
