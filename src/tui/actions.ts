import type { DataSource } from './data-source.js';

/** What the operator can ask berth to do from the TUI: data, so that a question can hold its answers. */
export type Action =
  | { kind: 'start' | 'stop' | 'restart'; ref: string }
  | { kind: 'app-start' | 'app-stop' | 'app-restart'; ref: string }
  | { kind: 'destroy'; ref: string; keepData: boolean }
  | { kind: 'approve' | 'reject' | 'revoke'; login: string }
  | { kind: 'plan'; login: string; plan: string }
  | { kind: 'maintenance'; on: boolean };

/** How the status line names an action: `stop alice/main`, `plan of bob → pro`. */
export function actionLabel(action: Action): string {
  switch (action.kind) {
    case 'start':
    case 'stop':
    case 'restart':
      return `${action.kind} ${action.ref}`;
    case 'app-start':
    case 'app-stop':
    case 'app-restart':
      return `${action.kind.slice(4)} app ${action.ref}`;
    case 'destroy':
      return action.keepData ? `destroy ${action.ref}` : `destroy ${action.ref} with its home`;
    case 'approve':
    case 'reject':
    case 'revoke':
      return `${action.kind} ${action.login}`;
    case 'plan':
      return `plan of ${action.login} → ${action.plan}`;
    case 'maintenance':
      return action.on ? 'maintenance on' : 'maintenance off';
  }
}

/** Runs an action through the data source; maintenance tells `progress` how far it has come. */
export function perform(source: DataSource, action: Action, progress: (text: string) => void): Promise<unknown> {
  switch (action.kind) {
    case 'start':
      return source.startVm(action.ref);
    case 'stop':
      return source.stopVm(action.ref);
    case 'restart':
      return source.restartVm(action.ref);
    case 'app-start':
      return source.startApp(action.ref);
    case 'app-stop':
      return source.stopApp(action.ref);
    case 'app-restart':
      return source.restartApp(action.ref);
    case 'destroy':
      return source.destroyVm(action.ref, action.keepData);
    case 'approve':
      return source.approveUser(action.login);
    case 'reject':
      return source.rejectUser(action.login);
    case 'revoke':
      return source.revokeUser(action.login);
    case 'plan':
      return source.setUserPlan(action.login, action.plan);
    case 'maintenance':
      return action.on ? source.maintenanceOn(progress) : source.maintenanceOff(progress);
  }
}

/** What the status line says of an action: while it runs, as it goes, when it is done, when it failed. */
export interface StatusLine {
  text: string;
  error: boolean;
  /** The action still runs: a key does not put it away, nor does time. */
  pending?: boolean;
}

export const runningStatus = (label: string): StatusLine => ({ text: `${label}…`, error: false, pending: true });

export const progressStatus = (label: string, text: string): StatusLine => ({ text: `${label}: ${text}`, error: false, pending: true });

/** Done: what the action said (maintenance counts the VMs), or `LABEL: done`. */
export const doneStatus = (label: string, said: unknown): StatusLine => ({
  text: typeof said === 'string' && said ? said : `${label}: done`,
  error: false,
});

/** Failed: the error's message and its hint, in the status line (never thrown). */
export function failedStatus(label: string, err: unknown): StatusLine {
  const e = err as Error & { hint?: string };
  return { text: `${label} failed: ${e.message}${e.hint ? ` ${e.hint}` : ''}`, error: true };
}
