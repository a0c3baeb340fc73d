// berth's way into an app's own origin (/apps/LOGIN/VM/PORT?to=PATH): this page, on berth's
// origin, asks for a ticket bound to that one app host (the request carries berth's cookie: same
// origin), then posts it to the app host in a form: the app host takes a ticket only with berth's
// Origin, so no other page can put someone's app in another person's browser. It goes nowhere but
// the app's origin the page names.
(() => {
  const status = document.getElementById('status');
  const hint = document.getElementById('hint');
  const origin = document.body.dataset.origin || '';
  const fail = (text) => {
    status.textContent = text;
    hint.hidden = false;
  };
  fetch(location.pathname, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to: document.body.dataset.to || '/' }),
    credentials: 'same-origin',
    cache: 'no-store',
  })
    .then(async (res) => {
      const body = await res.json().catch(() => ({}));
      const to = typeof body.location === 'string' ? body.location : '';
      if (!res.ok || !origin || !to.startsWith(`${origin}/`)) {
        fail(typeof body.message === 'string' ? body.message : 'This app cannot be opened.');
        return;
      }
      const form = document.createElement('form');
      form.method = 'POST';
      form.action = to;
      document.body.appendChild(form);
      form.submit();
    })
    .catch(() => fail('berth did not answer. Try again.'));
})();
