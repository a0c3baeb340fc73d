/** What a gateway client may ask to have forwarded to it: X11 displays and remote (-R) ports. */

export interface X11Request {
  single: boolean;
  protocol: string;
  cookie: string;
  screen: number;
}

const X11_PROTOCOL = /^[A-Za-z0-9._-]{1,64}$/;
const X11_COOKIE = /^(?:[0-9a-fA-F]{2}){1,256}$/;

/** An x11-req as strings (ssh2 gives the cookie as a Buffer), or null when xauth could not take it as it is. */
export function parseX11(info: { single: unknown; protocol: unknown; cookie: unknown; screen: number }): X11Request | null {
  const x11 = { single: Boolean(info.single), protocol: String(info.protocol), cookie: String(info.cookie), screen: info.screen };
  const valid =
    X11_PROTOCOL.test(x11.protocol) && X11_COOKIE.test(x11.cookie) && Number.isInteger(x11.screen) && x11.screen >= 0 && x11.screen <= 99;
  return valid ? x11 : null;
}

/** `ssh -R` ports: 0 (any free one) or an unprivileged one (the VM's user is not root). */
export function remoteForwardPortAllowed(port: number): boolean {
  return port === 0 || (Number.isInteger(port) && port >= 1024 && port <= 65535);
}
