import { describe, expect, it } from 'vitest';
import { checkAnswer, rawHead } from '../../daemon/web/app-answer.js';
import { AppRequests } from '../../daemon/web/app-requests.js';

// What of a VM app's answer berth passes on (the integration side, with real apps in real VMs, is
// test/integration/web-hostile-apps.test.ts).

/** berth's cookie may not be set by an app (the rule app-origin.ts gives the proxy, in short). */
const rules = { drops: (name: string, value: string) => name.toLowerCase() === 'set-cookie' && value.startsWith('berth-abc=') };

describe('an app’s answer, checked before anything of it is passed on', () => {
  it('passes a final status and valid headers on, without hop-by-hop ones, those Connection names, or berth’s cookie', () => {
    const checked = checkAnswer(
      200,
      [
        'Content-Type',
        'text/plain',
        'Connection',
        'keep-alive, X-Private',
        'X-Private',
        'p',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'Set-Cookie',
        'berth-abc=stolen; Path=/',
        'Set-Cookie',
        'app=1',
        'X-Latin',
        'caf\u00e9',
      ],
      rules,
    );
    expect(checked).toEqual({
      status: 200,
      headers: [
        ['Content-Type', 'text/plain'],
        ['Set-Cookie', 'app=1'],
        ['X-Latin', 'caf\u00e9'],
      ],
    });
  });

  it.each([
    [199, [], /status 199/],
    [600, [], /status 600/],
    [999, [], /status 999/],
    [101, ['Upgrade', 'websocket', 'Connection', 'Upgrade'], /101 to a request that asked for no upgrade/],
    [200, ['X Bad', 'v'], /not a token/],
    [200, ['X-Bad', 'a\u0001b'], /control character/],
    [200, ['X-Bad', 'a\r\nSet-Cookie: x=1'], /control character/],
    [200, ['X-Bad', 'a\u0000'], /control character/],
    [200, Array.from({ length: 101 }, (_, i) => [`X-${i}`, 'a']).flat(), /more than 100 headers/],
  ])('refuses status %s with %j: %s', (status, headers, why) => {
    const checked = checkAnswer(status, headers as string[], rules);
    expect('bad' in checked && checked.bad).toMatch(why);
  });

  it('takes a 101 only for the protocol asked for, with Connection: upgrade, and says only that', () => {
    const asked = { ...rules, upgrade: 'websocket' };
    expect(checkAnswer(101, ['Upgrade', 'WebSocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'abc='], asked)).toEqual({
      status: 101,
      headers: [
        ['Sec-WebSocket-Accept', 'abc='],
        ['Connection', 'Upgrade'],
        ['Upgrade', 'websocket'],
      ],
    });
    expect(checkAnswer(101, ['Upgrade', 'h2c', 'Connection', 'Upgrade'], asked)).toMatchObject({
      bad: expect.stringMatching(/another protocol/),
    });
    expect(checkAnswer(101, ['Upgrade', 'websocket'], asked)).toMatchObject({ bad: expect.stringMatching(/Connection: upgrade/) });
    expect(checkAnswer(101, ['Upgrade', 'websocket, h2c', 'Connection', 'upgrade'], asked)).toMatchObject({ bad: expect.any(String) });
    // A refusal of the upgrade is an answer like any other.
    expect(checkAnswer(403, ['Content-Length', '0'], asked)).toEqual({ status: 403, headers: [['Content-Length', '0']] });
  });

  it('writes a status line with the standard reason, never the app’s', () => {
    expect(rawHead(200, [['Content-Length', '2']])).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n');
    expect(rawHead(299, [])).toBe('HTTP/1.1 299 Unknown\r\n\r\n');
  });
});

describe('each user’s share of requests waiting on their apps', () => {
  it('gives a user at most their share, others theirs whatever the first holds, and forgets users with none', () => {
    const requests = new AppRequests();
    const bobs = Array.from({ length: 3 }, () => requests.take('bob', 3));
    expect(bobs.every(Boolean)).toBe(true);
    expect(requests.take('bob', 3)).toBeNull();
    const alices = requests.take('alice', 3);
    expect(alices).not.toBeNull();
    bobs[0]?.();
    bobs[0]?.();
    expect(requests.of('bob')).toBe(2);
    expect(requests.take('bob', 3)).not.toBeNull();
    alices?.();
    expect(requests.of('alice')).toBe(0);
  });
});
