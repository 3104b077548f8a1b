// Broadcast list, wizard and broadcast page: progressive enhancement only.
// The pages work without it; it keeps live progress in order and tells the
// delivery report when the progress moved.
(function () {
  'use strict';

  // Live progress arrives as out-of-band swaps of #bc-live-N (the page) and
  // #bc-row-live-N (the list). Each carries data-rev, when its counters were
  // read; a rendering older than the one shown (a control's own answer
  // overtaken by the stream, two instances racing) is dropped.
  const rev = (el) => Number((el && el.getAttribute && el.getAttribute('data-rev')) || 0);
  document.addEventListener('htmx:oobBeforeSwap', (e) => {
    const target = e.detail.target;
    if (!target || !target.matches || !target.matches('.bc-live, .bc-row-live')) return;
    const frag = e.detail.fragment;
    const incoming = (frag && frag.firstElementChild) || frag;
    if (rev(incoming) > 0 && rev(incoming) < rev(target)) e.detail.shouldSwap = false;
  });

  // The delivery report under the page refreshes itself on the body's
  // "broadcast-progress" event (hx-trigger="broadcast-progress from:body").
  document.addEventListener('htmx:oobAfterSwap', (e) => {
    const t = e.detail.target;
    if (!t || !t.id || !/^bc-live-\d+$/.test(t.id)) return;
    htmx.trigger(document.body, 'broadcast-progress', { id: t.id.slice('bc-live-'.length) });
  });
})();
