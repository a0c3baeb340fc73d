/** Labels on every Docker object berth makes, and the names it gives them. */
export const LABEL = {
  managed: 'dev.berth.managed',
  instance: 'dev.berth.instance',
  user: 'dev.berth.user',
  vm: 'dev.berth.vm',
  plan: 'dev.berth.plan',
  template: 'dev.berth.template',
  /** Set by an image: the path of its SSH gateway helper. */
  helper: 'dev.berth.vm-helper',
} as const;

export function vmLabels(instanceId: string, user: string, vm: string, plan: string): Record<string, string> {
  return { [LABEL.managed]: 'true', [LABEL.instance]: instanceId, [LABEL.user]: user, [LABEL.vm]: vm, [LABEL.plan]: plan };
}

/** Filters selecting this berth home's objects. */
export function instanceFilter(instanceId: string): string[] {
  return [`${LABEL.managed}=true`, `${LABEL.instance}=${instanceId}`];
}

export const containerName = (user: string, vm: string) => `berth-${user}-${vm}`;
export const volumeName = (user: string, vm: string) => `berth-${user}-${vm}-home`;
export const homeDir = (user: string) => `/home/${user}`;
