// Classline front-end glue. Load after htmx.min.js and htmx-ext-sse.min.js,
// as plain <script src> (or all three with defer, never async). The CSP is
// script-src 'self', so behaviour lives here, not in inline handlers or hx-on.
(function () {
  'use strict';
  const cfg = htmx.config;

  // htmx would inject a <style> for .htmx-indicator, which a style-src without
  // 'unsafe-inline' blocks; app.css has the same rules. htmx reads this flag at
  // DOMContentLoaded, which is why this file must not be async.
  cfg.includeIndicatorStyles = false;
  // hx-on, hx-vars, js: values and trigger filters use Function(), which the CSP
  // forbids anyway: skip them quietly instead of raising CSP violations.
  // NB: with eval off a trigger filter ([...]) counts as true - don't use them.
  cfg.allowEval = false;
  cfg.allowScriptTags = false; // partials never carry scripts; ignore strays
  // Decided: no history snapshots. htmx would copy the page (parents' messages)
  // into sessionStorage, which lingers on a shared office PC, and a snapshot of
  // a live inbox is stale anyway. Back/Forward does a full reload instead.
  cfg.historyCacheSize = 0;
  cfg.refreshOnHistoryMiss = true;
  // 422 = "form has errors": swap it so the server can re-render the form with
  // .field-error messages. Other 4xx/5xx still don't swap and raise a toast.
  cfg.responseHandling = [{ code: '422', swap: true }].concat(cfg.responseHandling);

  // CSRF: read the meta tag per request, not once, so a token rotated by a
  // re-rendered page (e.g. after login) is picked up.
  document.addEventListener('htmx:configRequest', (e) => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) e.detail.headers['X-CSRF-Token'] = meta.content;
  });

  // Threads stick to the newest message as messages arrive (ajax, SSE and OOB
  // swaps all end in htmx:load), unless the reader scrolled up to read history:
  // yanking them down would lose their place. scroll doesn't bubble -> capture.
  const SLACK = 64; // px, so rounding or a re-rendered status pill doesn't unstick
  const scrolledUp = new WeakSet();
  document.addEventListener('scroll', (e) => {
    const t = e.target;
    if (!(t instanceof Element) || !t.classList.contains('thread')) return;
    if (t.scrollHeight - t.scrollTop - t.clientHeight > SLACK) scrolledUp.add(t);
    else scrolledUp.delete(t);
  }, true);
  const stick = (t) => { if (!scrolledUp.has(t)) t.scrollTop = t.scrollHeight; };
  // ...and stay stuck when the box shrinks (composer growing, phone URL bar,
  // late fonts). Re-observing current threads each time drops removed ones.
  const ro = window.ResizeObserver ? new ResizeObserver((es) => es.forEach((e) => stick(e.target))) : null;

  // Live updates are OOB appends ("beforeend:#thread-1", "afterbegin:#conv-list")
  // that often carry an element already on the page: a message whose status
  // changed, a conversation with news. htmx would add a second copy. Instead
  // a copy is replaced where it stands, or, inside [data-live="move-to-top"],
  // the old one is dropped so the new one lands on top (keeping .active).
  document.addEventListener('htmx:oobBeforeSwap', (e) => {
    const { target, fragment } = e.detail;
    const toTop = target.matches('[data-live="move-to-top"]');
    Array.from(fragment.children).forEach((el) => {
      const old = el.id && document.getElementById(el.id);
      if (!old || old === target || !target.contains(old)) return;
      if (toTop) {
        const wasActive = old.querySelector('.conv-item.active');
        const item = el.querySelector('.conv-item');
        if (wasActive && item) item.classList.add('active');
        old.remove();
      } else {
        old.replaceWith(el);
        htmx.process(el);
        const t = el.closest('.thread');
        if (t) stick(t);
      }
    });
  });

  htmx.onLoad((elt) => {
    if (!(elt instanceof Element)) return;
    const inThread = elt.closest('.thread'); // content swapped into a thread
    if (inThread) stick(inThread);
    elt.querySelectorAll('.thread').forEach(stick); // a whole thread loaded
    if (ro) { ro.disconnect(); document.querySelectorAll('.thread').forEach((t) => ro.observe(t)); }

    // Native autofocus only works on first page load. data-autofocus also works
    // after swaps, but never steals focus from someone typing elsewhere (an SSE
    // update landing mid-reply) and never scrolls the page (phones).
    const target = elt.matches('[data-autofocus]') ? elt : elt.querySelector('[data-autofocus]');
    const a = document.activeElement;
    const typing = a && a !== document.body && !elt.contains(a) &&
      a.matches('input, textarea, select, [contenteditable]');
    if (target && !typing) target.focus({ preventScroll: true });
  });

  // [data-confirm] on a form (or on the element that sends the request) asks
  // first. A <dialog>, not window.confirm(): it matches the app, can't be
  // suppressed by the browser, and doesn't freeze SSE updates while open.
  // Optional: data-confirm-ok="Delete" (button label), data-confirm-danger.
  let dialog;
  function ask(host) {
    if (!dialog) {
      dialog = document.createElement('dialog');
      dialog.className = 'confirm-dialog';
      dialog.innerHTML = '<form method="dialog" class="stack"><p class="confirm-text"></p>' +
        '<div class="row confirm-actions"><button class="btn btn-secondary" value="cancel" autofocus>Cancel</button>' +
        '<button class="btn" value="ok"></button></div></form>';
      document.body.appendChild(dialog);
    }
    if (dialog.open) return Promise.resolve(false); // double submit
    dialog.querySelector('.confirm-text').textContent = host.getAttribute('data-confirm');
    const ok = dialog.querySelector('[value="ok"]');
    ok.textContent = host.getAttribute('data-confirm-ok') || 'OK';
    ok.className = 'btn ' + (host.hasAttribute('data-confirm-danger') ? 'btn-danger' : 'btn-primary');
    return new Promise((resolve) => {
      dialog.returnValue = ''; // Esc closes with '' = cancel
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal(); // focuses Cancel: the safe default
    });
  }
  document.addEventListener('htmx:confirm', (e) => {
    const elt = e.detail.elt;
    const host = elt.hasAttribute('data-confirm') ? elt : elt.closest('form[data-confirm]');
    if (!host) return;
    e.preventDefault();
    ask(host).then((yes) => { if (yes) e.detail.issueRequest(true); });
  });
  // Plain (non-htmx) forms too; htmx has already prevented its own submits.
  document.addEventListener('submit', (e) => {
    const form = e.target;
    if (e.defaultPrevented || !form.hasAttribute('data-confirm')) return;
    if (form.dataset.confirmed) { delete form.dataset.confirmed; return; }
    e.preventDefault();
    ask(form).then((yes) => { if (yes) { form.dataset.confirmed = '1'; form.requestSubmit(e.submitter); } });
  });

  // Toasts live in #toasts (aria-live in the layout, so they are read out) and
  // leave by themselves, errors later. The server can add one as HTML swapped
  // into #toasts, or with HX-Trigger: {"toast":{"message":"Saved","kind":"success"}}.
  const expire = (t) => setTimeout(() => t.remove(),
    t.matches('.toast-error, [role="alert"]') ? 8000 : 5000);
  htmx.onLoad((elt) => { if (elt instanceof Element && elt.matches('#toasts > .toast')) expire(elt); });
  function toast(message, kind) {
    const box = document.getElementById('toasts');
    if (!box || !message) return;
    const t = document.createElement('div');
    t.className = 'toast toast-' + (kind || 'info');
    t.textContent = message;
    box.appendChild(t);
    expire(t);
  }
  document.addEventListener('toast', (e) => { const d = e.detail || {}; toast(d.message || d.value, d.kind); });
  // A generic toast only when the server did not already answer into #toasts.
  document.addEventListener('htmx:responseError', (e) => {
    if (e.detail.target && e.detail.target.closest('#toasts')) return;
    toast('Something went wrong (' + e.detail.xhr.status + '). Please try again.', 'error');
  });
  document.addEventListener('htmx:sendError', () =>
    toast('Could not reach Classline. Check the connection and try again.', 'error'));

  // .live-dot goes grey while the SSE stream is down; the extension reconnects
  // by itself and fires htmx:sseOpen again when it is back.
  const live = (on) => document.querySelectorAll('.live-dot').forEach((d) => d.classList.toggle('is-offline', !on));
  document.addEventListener('htmx:sseOpen', () => live(true));
  document.addEventListener('htmx:sseError', () => live(false));
  // The server sends "refresh" when more changed than it can replay (a long
  // disconnect): the page reloads itself instead of showing stale data.
  document.addEventListener('htmx:sseBeforeMessage', (e) => {
    if (e.detail && e.detail.type === 'refresh') { e.preventDefault(); window.location.reload(); }
  });
})();
