import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ERROR_AREAS } from '../../src/errors/areas.js';
import { ROOT } from '../helpers/cli.js';

// The error codes a person may see are listed once, by area, in src/errors/ (docs/errors.md is made
// from them). tsc keeps unlisted codes out of the code; these keep the lists honest.

const listed = ERROR_AREAS.flatMap((area) => Object.keys(area.codes).map((code) => ({ code, area: area.file })));

/** Every source file of the front-ends and src/ (the browser scripts too), but the lists themselves. */
function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return path === 'src/errors' ? [] : sourceFiles(path);
    return /\.(tsx?|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

describe('the error codes listed in src/errors/', () => {
  it('list each code once, in one area', () => {
    expect(listed.length).toBeGreaterThan(150);
    const areas = new Map<string, string[]>();
    for (const { code, area } of listed) areas.set(code, [...(areas.get(code) ?? []), area]);
    expect([...areas].filter(([, where]) => where.length > 1).map(([code, where]) => `${code} in ${where.join(', ')}`)).toEqual([]);
  });

  it('are each used somewhere in src/, commands/ or daemon/: no dead entries', () => {
    const text = ['src', 'commands', 'daemon']
      .flatMap(sourceFiles)
      .map((file) => readFileSync(join(ROOT, file), 'utf8'))
      .join('\n');
    const unused = listed.filter(({ code }) => !new RegExp(`(['"\`])${code}\\1`).test(text));
    expect(unused.map(({ code, area }) => `${code} (src/errors/${area})`)).toEqual([]);
  });

  it('give each code one line of meaning, in the file the area names', () => {
    for (const area of ERROR_AREAS) {
      const file = readFileSync(join(ROOT, 'src', 'errors', area.file), 'utf8');
      for (const [code, meaning] of Object.entries(area.codes)) {
        expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
        expect(file, `${code} is listed in src/errors/${area.file}`).toMatch(new RegExp(`^  ${code}:`, 'm'));
        expect(meaning.length, `${code} has a meaning`).toBeGreaterThan(20);
        expect(meaning, `${code}'s meaning is one line`).not.toMatch(/\n/);
      }
    }
  });

  it('are the only codes tsc lets BerthError and invalidInput take', () => {
    const probe = join(ROOT, 'src', 'error-code-probe.ts');
    const source = [
      "import { BerthError, invalidInput } from './errors.js';",
      "export const listed = [new BerthError('VM_NOT_FOUND', 'm', 'h'), invalidInput('INVALID_SIZE', 'm', 'h')];",
      "export const unlisted = new BerthError('NO_SUCH_CODE', 'm', 'h');",
      "export const unlistedInput = invalidInput('NOR_THIS_ONE', 'm', 'h');",
    ].join('\n');
    const config = ts.getParsedCommandLineOfConfigFile(
      join(ROOT, 'tsconfig.json'),
      {},
      { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
    );
    const options = { ...config?.options, noEmit: true };
    const host = ts.createCompilerHost(options);
    const { getSourceFile, fileExists } = host;
    host.fileExists = (name) => name === probe || fileExists(name);
    host.getSourceFile = (name, language, ...rest) =>
      name === probe ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
    const program = ts.createProgram([probe], options, host);
    const found = ts
      .getPreEmitDiagnostics(program, program.getSourceFile(probe))
      .map((d) => `${d.file?.getLineAndCharacterOfPosition(d.start ?? 0).line}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    expect(found).toEqual([
      `2: Argument of type '"NO_SUCH_CODE"' is not assignable to parameter of type 'ErrorCode'.`,
      `3: Argument of type '"NOR_THIS_ONE"' is not assignable to parameter of type 'ErrorCode'.`,
    ]);
  });
});
