import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The picture of imports a newcomer is told (docs/development.md "Layout", STYLE.md): front-ends → services →
 * domain → state → values, read here from the import statements of every .ts/.tsx file.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Top to bottom. A file imports its own layer or any below it; layers in one row do not import each other. */
const ROWS: string[][] = [
  ['commands', 'daemon'],
  ['src/cli', 'src/tui'],
  ['src/services/setup'],
  ['src/services/agents'],
  ['src/services/access'],
  ['src/services/apps'],
  ['src/services/backups'],
  ['src/services/people'],
  ['src/services/nodes'],
  ['src/services/vm'],
  ['src/services/engine'],
  ['src/services/network'],
  ['src/services/control', 'src/services/secrets', 'src/services/core'],
  ['src/views', 'src/docker', 'src/host'],
  ['src/domain'],
  ['src/state'],
  ['src/values'],
  ['src/errors.ts', 'src/home.ts', 'src/package-root.ts'],
  ['src/errors'],
];

/** Layers only some front-ends may use, whatever their row. */
const ONLY_FROM: Record<string, string[]> = {
  'src/cli': ['commands'],
  'src/tui': ['commands'],
};

/** Imports allowed across a row, each with its reason. */
const EXCEPTIONS: Record<string, string> = {
  'commands/daemon/run.ts -> daemon/main.ts': '`berth daemon run` is the daemon: the command runs it in its own process',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every file's berth imports (static, re-exports, dynamic `import()`, type-only too), as repository paths. */
function importGraph(): { graph: Map<string, string[]>; unresolved: string[] } {
  const files = ['src', 'commands', 'daemon'].flatMap(sourceFiles);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
    const targets: string[] = [];
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const path = relative(ROOT, resolve(ROOT, dirname(file), fileName));
      const target = [path.replace(/\.js$/, '.ts'), path.replace(/\.js$/, '.tsx'), path].find((p) => known.has(p));
      if (target) targets.push(target);
      else unresolved.push(`${file} imports ${fileName}`);
    }
    graph.set(file, [...new Set(targets)]);
  }
  return { graph, unresolved };
}

/**
 * `src/services/vm/vms.ts` → `src/services/vm` (each feature folder of services is a layer of its own);
 * `src/docker/runtime.ts` → `src/docker`; `commands/vm/list.ts` → `commands`; `src/errors.ts` stays.
 */
function layerOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] !== 'src') return parts[0] ?? file;
  if (parts[1] === 'services') return parts.length > 3 ? `src/services/${parts[2]}` : file;
  return parts.length > 2 ? `src/${parts[1]}` : file;
}

const rowOf = (layer: string) => ROWS.findIndex((row) => row.includes(layer));

function layerViolations(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  for (const [from, targets] of graph) {
    const a = layerOf(from);
    for (const to of targets) {
      const b = layerOf(to);
      if (a === b || EXCEPTIONS[`${from} -> ${to}`]) continue;
      const users = ONLY_FROM[b];
      if (users && !users.includes(a)) {
        found.push(`${from} -> ${to}: ${b} is for ${users.join(', ')} only`);
        continue;
      }
      const [ra, rb] = [rowOf(a), rowOf(b)];
      if (ra === -1 || rb === -1) found.push(`${from} -> ${to}: ${ra === -1 ? a : b} is in no layer (add it to ROWS)`);
      else if (rb < ra) found.push(`${from} -> ${to}: ${a} is below ${b}`);
      else if (rb === ra) found.push(`${from} -> ${to}: ${a} and ${b} are side by side and do not import each other`);
    }
  }
  return found;
}

/** Each loop of imports once, as the path around it (Tarjan's strongly connected components). */
function cycles(graph: Map<string, string[]>): string[] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const loops: string[] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string | undefined;
    do {
      w = stack.pop();
      if (w === undefined) break;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) loops.push(pathAround(graph, new Set(component), v));
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return loops;
}

/** One loop through `start` inside its component, `a -> b -> … -> a`, for the failure message. */
function pathAround(graph: Map<string, string[]>, component: Set<string>, start: string): string {
  const back = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift() as string;
    for (const w of graph.get(v) ?? []) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at: string | undefined = v; at !== undefined && at !== start; at = back.get(at)) path.splice(1, 0, at);
        return [...path, start].join(' -> ');
      }
      if (!back.has(w)) {
        back.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...component].join(', ');
}

/**
 * Which engine berth runs VMs on is known in one place, the engine port's folder: elsewhere no code
 * reads the `engine` setting, compares a mode, or reaches past the port to one backend.
 */
const ENGINE_FOLDER = 'src/services/engine/';
const ASKS_WHICH_ENGINE =
  /\bengineMode\b|\bcfg\.engine\b|\bconfig\)?\.engine\b\s*[!=]==|\.engine\s*[!=]==\s*'(swarm|local)'|\['engine'\]|\bbackend\.mode\b/;
const BACKENDS = ['src/services/engine/local-backend.ts', 'src/services/engine/swarm-backend.ts'];

function engineQuestions(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  for (const [file, targets] of graph) {
    if (file.startsWith(ENGINE_FOLDER) || file === 'src/values/config-keys.ts') continue;
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (ASKS_WHICH_ENGINE.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
    for (const backend of BACKENDS) if (targets.includes(backend)) found.push(`${file} imports ${backend} (use ctx.backend())`);
  }
  return found;
}

describe('the import graph of src/, commands/ and daemon/', () => {
  const { graph, unresolved } = importGraph();

  it('is read whole: every relative import names a file of the tree', () => {
    expect(graph.size).toBeGreaterThan(150);
    expect(graph.get('src/services/vm/vms.ts')).toContain('src/state/schema.ts');
    expect(unresolved).toEqual([]);
  });

  it('has no loops between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('points one way: front-ends → services → domain → state → values; src/cli and src/tui only for commands/', () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it('asks which engine berth is on only in the engine port (src/services/engine/)', () => {
    expect(ASKS_WHICH_ENGINE.test("if (effectiveConfig(state.config).engine === 'swarm')")).toBe(true);
    expect(engineQuestions(graph)).toEqual([]);
  });

  it('knows every layer it finds', () => {
    const layers = new Set([...graph.keys()].map(layerOf));
    expect([...layers].filter((l) => rowOf(l) === -1)).toEqual([]);
  });
});
