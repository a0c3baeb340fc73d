/** Who asks for an action: the operator (CLI/TUI), an admin, or a user acting on their own VMs. */
export interface Actor {
  role: 'admin' | 'user';
  /** The berth login behind a bot or SSH request; none for the operator on the host. */
  login?: string;
  /** An admin's explicit "do it anyway" (e.g. start a VM during maintenance). */
  override?: boolean;
}

export const OPERATOR: Actor = { role: 'admin' };
