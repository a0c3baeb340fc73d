import { describe, expect, it, vi } from 'vitest';
import { LatestWins } from '../../daemon/latest-wins.js';

/** A send whose calls finish when the test says so. */
function held() {
  const calls: number[] = [];
  const finish: Array<(ok: boolean) => void> = [];
  let running = 0;
  let most = 0;
  const send = (value: number) => {
    calls.push(value);
    running += 1;
    most = Math.max(most, running);
    return new Promise<void>((resolve, reject) => {
      finish.push((ok) => {
        running -= 1;
        if (ok) resolve();
        else reject(new Error('engine said no'));
      });
    });
  };
  return { calls, finish, send, most: () => most };
}

describe('latest wins, one call at a time', () => {
  it('sends the first at once and, of those pushed meanwhile, only the latest', async () => {
    const h = held();
    const q = new LatestWins(h.send);
    q.push(1);
    q.push(2);
    q.push(3);
    expect(h.calls).toEqual([1]);
    h.finish[0]?.(true);
    await vi.waitFor(() => expect(h.calls).toEqual([1, 3]));
    h.finish[1]?.(true);
    q.push(4);
    await vi.waitFor(() => expect(h.calls).toEqual([1, 3, 4]));
    expect(h.most()).toBe(1);
  });

  it('goes on after a call that failed', async () => {
    const h = held();
    const q = new LatestWins(h.send);
    q.push(1);
    q.push(2);
    h.finish[0]?.(false);
    await vi.waitFor(() => expect(h.calls).toEqual([1, 2]));
    h.finish[1]?.(true);
    q.push(5);
    await vi.waitFor(() => expect(h.calls).toEqual([1, 2, 5]));
  });

  it('is free again at once when send makes no call', () => {
    const seen: number[] = [];
    const q = new LatestWins<number>((value) => {
      seen.push(value);
      return undefined;
    });
    q.push(1);
    q.push(2);
    expect(seen).toEqual([1, 2]);
  });
});
