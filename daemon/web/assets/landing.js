// berth's landing page for one-time links (/t#TICKET): the ticket travels in the fragment, which
// browsers never send, so only this script sees it. It posts it once; the answer sets the session
// cookie and names where to go. The ticket leaves the address bar and the history at once.
// A browser signed in as another berth user is asked first: the ticket is only spent once the
// person confirms (berth answers 409 without spending it), never behind their back.
(() => {
  const status = document.getElementById('status');
  const hint = document.getElementById('hint');
  const ask = document.getElementById('switch');
  const button = document.getElementById('continue');
  const ticket = location.hash.slice(1);
  history.replaceState(null, '', location.pathname);
  const fail = (text) => {
    ask.hidden = true;
    status.textContent = text;
    hint.hidden = false;
  };
  if (!ticket) {
    fail('This link has no ticket in it.');
    return;
  }
  const post = (confirmed) =>
    fetch('/t', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(confirmed ? { ticket, switch: true } : { ticket }),
      credentials: 'same-origin',
      cache: 'no-store',
    })
      .then(async (res) => {
        const body = await res.json().catch(() => ({}));
        const to = typeof body.location === 'string' ? body.location : '';
        if (res.ok && to.startsWith('/') && !to.startsWith('//') && !to.startsWith('/\\')) {
          // A download stays on this page: the browser saves the file.
          if (body.download === true) status.textContent = 'Your download has started: your browser saves the file.';
          location.replace(to);
        } else if (res.status === 409 && body.code === 'WEB_SWITCH_USER' && !confirmed) {
          status.textContent = `This browser is signed in as ${body.current}; continue as ${body.next}?`;
          button.textContent = `Continue as ${body.next}`;
          ask.hidden = false;
        } else fail(typeof body.message === 'string' ? body.message : 'This link cannot be opened.');
      })
      .catch(() => fail('berth did not answer. Try again with a new link.'));
  button.addEventListener('click', () => {
    button.disabled = true;
    void post(true);
  });
  void post(false);
})();
