import { describe, expect, it } from 'vitest';
import { argsFromText, findCommand } from '../../daemon/chat/commands.js';
import { parseDeployWords } from '../../daemon/chat/handlers/deploy.js';

const deploy = findCommand('deploy');
const fromText = (text: string) =>
  Object.fromEntries(Object.entries(argsFromText(deploy as never, text)).filter(([, v]) => v !== undefined));

describe('the words of /deploy', () => {
  it('split into the name, the source and the options on Telegram', () => {
    expect(fromText('bot')).toEqual({ name: 'bot' });
    expect(fromText('bot https://git.example.org/a/b.git dev secret:bot-token MODE=prod port:8080')).toEqual({
      name: 'bot',
      source: 'https://git.example.org/a/b.git dev',
      options: 'secret:bot-token MODE=prod port:8080',
    });
    expect(fromText('bot secret:TOKEN=bot-token web:~/bot')).toEqual({
      name: 'bot',
      source: 'web:~/bot',
      options: 'secret:TOKEN=bot-token',
    });
    // A URL with a query is a source, not a variable.
    expect(fromText('bot https://x.example/r.git?a=b')).toEqual({ name: 'bot', source: 'https://x.example/r.git?a=b' });
  });

  it.each([
    [['https://git.example.org/a/b.git'], { source: { kind: 'git', url: 'https://git.example.org/a/b.git', branch: 'main' } }],
    [
      ['https://git.example.org/a/b.git', 'release'],
      { source: { kind: 'git', url: 'https://git.example.org/a/b.git', branch: 'release' } },
    ],
    [['https://h/r.git', 'port:80'], { source: { kind: 'git', url: 'https://h/r.git', branch: 'main' }, port: 80 }],
    [['~/bot'], { source: { kind: 'vm', path: '~/bot' } }],
    [['web:~/bot'], { source: { kind: 'vm', vm: 'web', path: '~/bot' } }],
    [['main:/home/alice/bot'], { source: { kind: 'vm', vm: 'main', path: '/home/alice/bot' } }],
    [['secret:bot-token', 'secret:API=api-key', 'A=1', 'B=x=y'], { secrets: ['bot-token', 'API=api-key'], env: ['A=1', 'B=x=y'] }],
    [[], {}],
  ])('%j', (words, expected) => {
    expect(parseDeployWords(words)).toEqual({ env: [], secrets: [], ...expected });
  });

  it.each([
    [['bot.py'], /is neither a source nor an option/],
    [['~/a', '~/b'], /Give one source/],
    [['https://h/a.git', 'dev', 'extra'], /is neither a source nor an option/],
    [['port:0'], /does not give a port/],
    [['port:http'], /does not give a port/],
  ])('refuses %j', (words, message) => {
    expect(() => parseDeployWords(words)).toThrow(message);
  });
});
