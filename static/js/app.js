// Classline front-end glue. Load after htmx.min.js and htmx-ext-sse.min.js,
// as plain <script src> (or all three with defer, never async). The CSP is
// script-src 'self', so behaviour lives here, not in inline handlers or hx-on.
(function () {
  'use strict';
  const cfg = htmx.config;

  // htmx would inject a <style> for .htmx-indicator, which a style-src without
  // 'unsafe-inline' blocks; app.css carries the same rules. htmx reads this at
  // DOMContentLoaded, which is why this file must not be async.
  cfg.includeIndicatorStyles = false;
  // hx-on, hx-vars, js: values and trigger filters are built with Function();
  // the CSP forbids that anyway, so skip them quietly instead of raising CSP
  // violations. NB: with eval off a trigger filter counts as true - don't use them.
  cfg.allowEval = false;
  // Partials never carry scripts; ignore any that slip in.
  cfg.allowScriptTags = false;
  // Decided: no history snapshots. htmx would copy the page (parents' messages)
  // into sessionStorage, which lingers on a shared front-office PC, and a
  // snapshot of a live inbox is stale anyway. Back/Forward reloads instead.
  cfg.historyCacheSize = 0;
  cfg.refreshOnHistoryMiss = true;
  // 422 = "form has errors": swap it so the server can re-render the form with
  // .field-error messages. Other 4xx/5xx still don't swap and raise a toast.
  cfg.responseHandling = [{ code: '422', swap: true }].concat(cfg.responseHandling);

  // CSRF: the server checks X-CSRF-Token on htmx requests. Read the meta tag
  // on every request (not once) so a page re-rendered after login still works.
  document.addEventListener('htmx:configRequest', (e) => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) e.detail.headers['X-CSRF-Token'] = meta.content;
  });

  // Threads stick to the newest message as messages arrive (ajax, SSE or OOB
  // swaps all end in htmx:load), unless the reader scrolled up to read history:
  // yanking them down would lose their place. scroll doesn't bubble -> capture.
  const SLACK = 64; // px; rounding and a re-rendered status pill mustn't "unstick"
  const scrolledUp = new WeakSet();
  document.addEventListener('scroll', (e) => {
    const t = e.target;
    if (!(t instanceof Element) || !t.classList.contains('thread')) return;
    if (t.scrollHeight - t.scrollTop - t.clientHeight > SLACK) scrolledUp.add(t);
    else scrolledUp.delete(t);
  }, true);
  const stick = (t) => { if (!scrolledUp.has(t)) t.scrollTop = t.scrollHeight; };
  // A stuck thread must stay stuck when its box shrinks: the composer textarea
  // growing, the phone URL bar resizing dvh, late fonts. Re-observing all
  // current threads on each load avoids holding on to removed ones.
  const ro = window.ResizeObserver ? new ResizeObserver((es) => es.forEach((e) => stick(e.target))) : null;

  htmx.onLoad((elt) => {
    if (!(elt instanceof Element)) return;
    const inThread = elt.closest('.thread'); // content swapped into a thread
    if (inThread) stick(inThread);
    elt.querySelectorAll('.thread').forEach(stick); // a whole thread loaded
    if (ro) { ro.disconnect(); document.querySelectorAll('.thread').forEach((t) => ro.observe(t)); }

    // Native autofocus only works on first page load. data-autofocus also
    // works after swaps, but never steals focus from someone typing elsewhere
    // (e.g. an SSE update landing while a reply is being written).
    const target = elt.matches('[data-autofocus]') ? elt : elt.querySelector('[data-autofocus]');
    const a = document.activeElement;
    const typing = a && a !== document.body && !elt.contains(a) &&
      a.matches('input, textarea, select, [contenteditable]');
    if (target && !typing) target.focus();
  });

  // Confirmation for [data-confirm] (on a form or the element that sends the
  // request). A <dialog> rather than window.confirm(): it matches the app,
  // can't be suppressed by "prevent this page from creating dialogs", and
  // doesn't freeze the page (SSE updates keep arriving while it is open).
  // Optional: data-confirm-ok="Delete" (button label), data-confirm-danger.
  let dialog;
  function ask(host) {
    const text = host.getAttribute('data-confirm');
    if (typeof HTMLDialogElement !== 'function') return Promise.resolve(window.confirm(text));
    if (!dialog) {
      dialog = document.createElement('dialog');
      dialog.className = 'confirm-dialog';
      dialog.innerHTML = '<form method="dialog" class="stack"><p class="confirm-text"></p>' +
        '<div class="row confirm-actions"><button class="btn btn-secondary" value="cancel" autofocus>Cancel</button>' +
        '<button class="btn" value="ok"></button></div></form>';
      document.body.appendChild(dialog);
    }
    dialog.querySelector('.confirm-text').textContent = text;
    const ok = dialog.querySelector('[value="ok"]');
    ok.textContent = host.getAttribute('data-confirm-ok') || 'OK';
    ok.className = 'btn ' + (host.hasAttribute('data-confirm-danger') ? 'btn-danger' : 'btn-primary');
    return new Promise((resolve) => {
      dialog.returnValue = ''; // Esc closes with '' -> treated as cancel
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
  // Same for plain (non-htmx) forms. htmx forms have already had
  // preventDefault() called by the time the event reaches document.
  document.addEventListener('submit', (e) => {
    const form = e.target;
    if (e.defaultPrevented || !form.hasAttribute('data-confirm')) return;
    if (form.dataset.confirmed) { delete form.dataset.confirmed; return; }
    e.preventDefault();
    ask(form).then((yes) => {
      if (yes) { form.dataset.confirmed = '1'; form.requestSubmit(e.submitter); }
    });
  });

  // Toasts in #toasts (role="status" in the layout so they are announced).
  // The server raises one with HX-Trigger: {"toast":{"message":"Saved","kind":"success"}}.
  function toast(message, kind) {
    const box = document.getElementById('toasts');
    if (!box || !message) return;
    const t = document.createElement('div');
    t.className = 'toast toast-' + (kind || 'info');
    t.textContent = message;
    box.appendChild(t);
    setTimeout(() => t.remove(), kind === 'error' ? 8000 : 5000);
  }
  document.addEventListener('toast', (e) => toast(e.detail.message || e.detail.value, e.detail.kind));
  document.addEventListener('htmx:responseError', (e) =>
    toast('Something went wrong (' + e.detail.xhr.status + '). Please try again.', 'error'));
  document.addEventListener('htmx:sendError', () =>
    toast('Could not reach Classline. Check the connection and try again.', 'error'));

  // .live-dot turns grey while the SSE stream is down (the extension reconnects
  // by itself and fires htmx:sseOpen again when it is back).
  const live = (on) => document.querySelectorAll('.live-dot')
    .forEach((d) => d.classList.toggle('is-offline', !on));
  document.addEventListener('htmx:sseOpen', () => live(true));
  document.addEventListener('htmx:sseError', () => live(false));
})();
