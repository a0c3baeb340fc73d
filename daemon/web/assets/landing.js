// berth's landing page for one-time links (/t#TICKET): the ticket travels in the fragment, which
// browsers never send, so only this script sees it. It posts it once; the answer sets the session
// cookie and names where to go. The ticket leaves the address bar and the history at once.
(() => {
  const status = document.getElementById('status');
  const hint = document.getElementById('hint');
  const ticket = location.hash.slice(1);
  history.replaceState(null, '', location.pathname);
  const fail = (text) => {
    status.textContent = text;
    hint.hidden = false;
  };
  if (!ticket) {
    fail('This link has no ticket in it.');
    return;
  }
  fetch('/t', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ticket }),
    credentials: 'same-origin',
    cache: 'no-store',
  })
    .then(async (res) => {
      const body = await res.json().catch(() => ({}));
      const to = typeof body.location === 'string' ? body.location : '';
      if (res.ok && to.startsWith('/') && !to.startsWith('//')) location.replace(to);
      else fail(typeof body.message === 'string' ? body.message : 'This link cannot be opened.');
    })
    .catch(() => fail('berth did not answer. Try again with a new link.'));
})();
