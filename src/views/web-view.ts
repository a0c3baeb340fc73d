import { z } from 'zod';

/** The machine shape of `berth vm web-terminal --json` and `berth vm url --json` (see services/web-links.ts). */
export const WebLinkSchema = z.object({
  /** The one-time link: open it once, within 60 s. */
  url: z.string().url(),
  expiresAt: z.string(),
  vm: z.string(),
  /** Where it lands on berth's origin: `/terminal/USER/VM`, `/apps/USER/VM/PORT` (into the app's own origin) or `/vm/USER/VM/PORT/`. */
  path: z.string(),
  /** The app's own address, `SCHEME://PORT--VM--USER.APPS_DOMAIN/` (with web.apps-domain). */
  app: z.string().url().optional(),
});

/** One open session of `berth sessions --json` (SSH and web). */
export const SessionViewSchema = z.object({
  id: z.string(),
  user: z.string(),
  vm: z.string(),
  fingerprint: z.string(),
  source: z.string(),
  kind: z.enum(['shell', 'exec', 'subsystem', 'forward', 'remote-forward', 'web-terminal', 'web-app', 'agent']),
  command: z.string().optional(),
  startedAt: z.string(),
  bytesIn: z.number(),
  bytesOut: z.number(),
  /** Its recording's id, when it is recorded (berth sessions replay ID). */
  recording: z.string().optional(),
});

/** The machine shape of `berth app url --json` (see services/access/user-app-web.ts). */
export const AppWebLinkSchema = z.object({
  /** The one-time link: open it once, within 60 s. */
  url: z.string().url(),
  expiresAt: z.string(),
  /** USER/NAME. */
  app: z.string(),
  /** Where it lands on berth's origin: `/apps/USER/NAME` (into the app's own origin). */
  path: z.string(),
  /** The app's own address, `SCHEME://app--NAME--USER.APPS_DOMAIN/`. */
  address: z.string().url(),
  /** Anyone may open the address without a link (the owner's plan allows public apps). */
  public: z.boolean(),
});
