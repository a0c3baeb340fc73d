import { effectiveConfig } from '../../values/config-keys.js';
import { appBaseStatus } from '../apps/app-base.js';
import type { Berth } from '../core/context.js';

/** How long `berth doctor` waits for a package index to answer. */
const INDEX_DEADLINE_MS = 3000;

/** Why apps.dockerfile is off whatever the config says: what a user's Dockerfile would need is not here. */
export const DOCKERFILE_OFF =
  "off: no builder that gives a build step no more than a VM has runs on this host (Docker 20.10's builder grants its default capabilities and bridge network to RUN steps)";

/** What `berth doctor` says of apps: warnings and information only (berth's VMs work without any of it). */
export interface AppsCheck {
  /** Each runtime's base image and whether the engine has it; null when the engine did not answer. */
  bases: Array<{ runtime: string; image: string; present: boolean }> | null;
  /** Why the bases could not be checked. */
  basesProblem: string | null;
  /** The package indexes set in the config (apps.pip-index-url, apps.npm-registry), and whether each answered. */
  indexes: Array<{ key: 'apps.pip-index-url' | 'apps.npm-registry'; url: string; ok: boolean; detail: string }>;
  /** apps.dockerfile: what the config asks, and what berth does. */
  dockerfile: { configured: boolean; detail: string };
  /** Each warning, with its fix. */
  warnings: string[];
}

/**
 * Whether `url` answers an HTTP request within INDEX_DEADLINE_MS: a HEAD (a GET where HEAD is
 * not allowed); a status below 400 is an answer. Only the URL the operator configured is asked.
 */
export async function indexAnswers(url: string, deadlineMs = INDEX_DEADLINE_MS): Promise<{ ok: boolean; detail: string }> {
  const ask = (method: 'HEAD' | 'GET') => fetch(url, { method, redirect: 'manual', signal: AbortSignal.timeout(deadlineMs) });
  try {
    let res = await ask('HEAD');
    if (res.status === 405 || res.status === 501) res = await ask('GET');
    await res.body?.cancel().catch(() => undefined);
    return res.status < 400 ? { ok: true, detail: `answers (HTTP ${res.status})` } : { ok: false, detail: `answers HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') return { ok: false, detail: `no answer within ${deadlineMs / 1000} s` };
    return { ok: false, detail: `no answer: ${e.cause?.code ?? e.cause?.message ?? e.message}` };
  }
}

/** The apps part of `berth doctor`: base images, package indexes, apps.dockerfile. */
export async function checkApps(ctx: Berth, options: { deadlineMs?: number } = {}): Promise<AppsCheck> {
  const cfg = effectiveConfig((await ctx.store.read()).config);
  const warnings: string[] = [];
  let bases: AppsCheck['bases'] = null;
  let basesProblem: string | null = null;
  try {
    bases = await appBaseStatus(ctx);
    const missing = bases.filter((b) => !b.present);
    if (missing.length)
      warnings.push(
        `app base image(s) missing: ${missing.map((b) => `${b.image} (${b.runtime})`).join(', ')}; apps cannot be built until they are: berth app base`,
      );
  } catch (err) {
    basesProblem = (err as Error).message.split('\n')[0] ?? String(err);
  }
  const keys = ['apps.pip-index-url', 'apps.npm-registry'] as const;
  const indexes = await Promise.all(
    keys
      .filter((key) => cfg[key] !== '')
      .map(async (key) => ({ key, url: cfg[key], ...(await indexAnswers(cfg[key], options.deadlineMs)) })),
  );
  for (const i of indexes)
    if (!i.ok)
      warnings.push(
        `${i.key} ${i.url} ${i.detail}: app builds that install packages will fail; check the URL (berth config set ${i.key} URL) and that builds may reach it (network.host-allow)`,
      );
  const configured = cfg['apps.dockerfile'];
  return {
    bases,
    basesProblem,
    indexes,
    dockerfile: { configured, detail: configured ? `set on in the config, but ${DOCKERFILE_OFF}` : DOCKERFILE_OFF },
    warnings,
  };
}
