/**
 * Requests each user has waiting on their VMs' web apps (`web.max-app-requests`): one user's
 * slow or hanging apps hold only their own share, never the others'. Each request is its own
 * connection to the VM (no pool shared between users or requests), so this is also the bound on
 * the upstream sockets a user holds for plain HTTP; app WebSockets count as sessions
 * (`ssh.max-user-sessions`). The map holds only users with a request open now, so it is no
 * larger than the web server's open connections (`maxConnections`).
 */
export class AppRequests {
  private readonly open = new Map<string, number>();

  /** Takes one of `login`'s slots, or null when they hold `max` already. The release it returns is idempotent. */
  take(login: string, max: number): (() => void) | null {
    const n = this.open.get(login) ?? 0;
    if (n >= max) return null;
    this.open.set(login, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(login) ?? 1) - 1;
      if (left <= 0) this.open.delete(login);
      else this.open.set(login, left);
    };
  }

  /** Requests `login` has open now. */
  of(login: string): number {
    return this.open.get(login) ?? 0;
  }
}
