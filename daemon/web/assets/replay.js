// berth's replay page: asciinema-player (bundled: /assets/asciinema-player.js) plays one session
// recording, fetched from /replay/ID/cast with the grant cookie the replay link set (its path is
// this recording's only). No inline script: the page's data-* attributes name the recording.
(() => {
  const { recording, cast } = document.body.dataset;
  const stateEl = document.getElementById('state');
  const show = (text) => {
    stateEl.textContent = text;
  };
  document.title = `Recording ${recording} — berth`;
  const player = AsciinemaPlayer.create(
    { url: cast, fetchOpts: { credentials: 'same-origin', cache: 'no-store' } },
    document.getElementById('player'),
    {
      autoPlay: true,
      preload: true,
      fit: 'width',
      idleTimeLimit: 2,
      terminalFontFamily: '"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace',
    },
  );
  player.addEventListener('play', () => show('playing'));
  player.addEventListener('playing', () => show('playing'));
  player.addEventListener('pause', () => show('paused'));
  player.addEventListener('ended', () => show('ended'));
  player.addEventListener('error', () => show('this recording could not be loaded: ask for a new link'));
  // For the tests (and a curious operator's console): the player.
  window.berth = { player };
})();
