/**
 * The notification channel: what berth tells users (a VM died, was stopped for being
 * idle, maintenance is coming…). Front-ends that can reach users implement Notifier
 * (the Telegram bot); without one, notices go to the daemon log only.
 */
export type NoticeKind =
  | 'vm-died'
  | 'vm-oom'
  | 'vm-stopped'
  | 'vm-destroyed'
  | 'maintenance-soon'
  | 'maintenance-start'
  | 'maintenance-end'
  | 'broadcast'
  | 'access-approved'
  | 'access-rejected'
  | 'app-crashed'
  | 'app-stopped';

export interface Notice {
  kind: NoticeKind;
  /** A login, or 'all' for every allowed user. Only access decisions reach users who are not allowed. */
  to: string;
  text: string;
  vm?: string;
}

export interface Notifier {
  send(notice: Notice): Promise<void>;
}

/** Sends to every notifier; one failing never stops the others or the caller. */
export function fanOut(notifiers: Notifier[], onError: (err: unknown, notice: Notice) => void): Notifier {
  return {
    send: async (notice) => {
      await Promise.all(notifiers.map((n) => n.send(notice).catch((err: unknown) => onError(err, notice))));
    },
  };
}
