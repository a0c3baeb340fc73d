import { readFileSync } from 'node:fs';
import module from 'node:module';

/**
 * ink 8 takes one function (`throttle`) from `es-toolkit/compat`, the barrel of the whole lodash
 * compatibility layer: some 300 modules, 150–200 ms of a 2-core machine's time before the first
 * frame. Resolved for ink only to the one module that holds `throttle` (it exports it by that
 * name), the screen comes that much sooner. Only ink 8 is redirected (a later ink may take more
 * from the barrel), and only where Node has synchronous module hooks (22.15+).
 */
export function fasterInkImports(): void {
  const register = (module as unknown as { registerHooks?: (hooks: object) => unknown }).registerHooks;
  if (!register) return;
  let throttle: string;
  let inkDir: string;
  try {
    const entry = import.meta.resolve('ink');
    const ink = JSON.parse(readFileSync(new URL('../package.json', entry), 'utf8')) as { version: string };
    if (!ink.version.startsWith('8.')) return;
    inkDir = new URL('.', entry).href;
    throttle = new URL('../dist/compat/function/throttle.mjs', import.meta.resolve('es-toolkit/compat/throttle')).href;
  } catch {
    return;
  }
  register({
    resolve(
      specifier: string,
      context: { parentURL?: string },
      next: (specifier: string, context: object) => { url: string; shortCircuit?: boolean },
    ) {
      if (specifier === 'es-toolkit/compat' && context.parentURL?.startsWith(inkDir)) return { url: throttle, shortCircuit: true };
      return next(specifier, context);
    },
  });
}
