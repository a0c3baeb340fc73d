/** Labels on every Docker object berth makes, and the names it gives them. */
export const LABEL = {
  managed: 'dev.berth.managed',
  instance: 'dev.berth.instance',
  user: 'dev.berth.user',
  /** The owner's user id (a login can be freed and given to someone else; the id never is). */
  userId: 'dev.berth.user-id',
  /** The home (volume) a VM mounts, or that a volume is. */
  home: 'dev.berth.home',
  vm: 'dev.berth.vm',
  plan: 'dev.berth.plan',
  template: 'dev.berth.template',
  /** Set by an image: the path of its SSH gateway helper. */
  helper: 'dev.berth.vm-helper',
  /** Set by an image: the coding agents it has (names in src/values/agents.ts), comma-separated. */
  agents: 'dev.berth.agents',
  /** An app's container or image: the app's id. */
  app: 'dev.berth.app',
  /** A build container of an app: the app's id. */
  build: 'dev.berth.build',
  /** An image apps are built on (templates/apps/RUNTIME): its runtime, python or node. */
  appBase: 'dev.berth.app-base',
} as const;

/** The labels of a VM's container and of its home volume: human names here, never in Docker names. */
export function vmLabels(
  instanceId: string,
  vm: { user: string; name: string; plan: string; home: string },
  userId: string,
): Record<string, string> {
  return {
    [LABEL.managed]: 'true',
    [LABEL.instance]: instanceId,
    [LABEL.user]: vm.user,
    [LABEL.userId]: userId,
    [LABEL.vm]: vm.name,
    [LABEL.plan]: vm.plan,
    [LABEL.home]: vm.home,
  };
}

/** Filters selecting this berth home's objects. */
export function instanceFilter(instanceId: string): string[] {
  return [`${LABEL.managed}=true`, `${LABEL.instance}=${instanceId}`];
}

/**
 * A VM's container name. Other VMs on the network can resolve container names (and read them back
 * from an address), so the name is the VM's opaque id: it tells nobody whose VM it is.
 */
export const containerName = (vmId: string) => `berth-${vmId}`;
/** A new home's volume name (homes made before ids were named `berth-LOGIN-VM-home`). */
export const volumeName = (homeId: string) => `berth-home-${homeId}`;
/** An app's container name: its opaque id. */
export const appContainerName = (appId: string) => `berth-app-${appId}`;
/** The image an app's build makes (one per app, replaced by each build). */
export const appImageRepo = (appId: string) => `berth-app-${appId}`;
export const homeDir = (user: string) => `/home/${user}`;
