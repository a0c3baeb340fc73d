// A separate berth process hammering the state file (built code from dist/).
// usage: node state-worker.mjs HOME allow PREFIX COUNT | HOME churn
import { allowUser } from '../../dist/src/services/people/users.js';
import { StateStore } from '../../dist/src/state/store.js';

const [home, mode, prefix, count] = process.argv.slice(2);
const store = new StateStore(home);

if (mode === 'allow') {
  for (let i = 0; i < Number(count); i++) await allowUser(store, `${prefix}-${i}`);
} else if (mode === 'churn') {
  const filler = 'x'.repeat(200_000);
  for (let n = 1; ; n++) {
    await store.transact((state) => {
      state.config['max-vms'] = n;
      state.plans[0].description = `${n}:${filler}`;
    });
    process.stdout.write(`committed ${n}\n`);
  }
}
