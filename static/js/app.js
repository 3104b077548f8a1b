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

  // Live updates: Chromium keeps a page left by a link in its back/forward
  // cache with its EventSource still open, and a browser allows six
  // connections per host over HTTP/1.1, so a few page loads in one tab used
  // to leave every further request waiting. Close the streams when the page
  // is hidden; a page brought back from that cache missed its events, so it
  // reloads (it would be stale otherwise).
  const streams = new Set();
  const openStream = htmx.createEventSource || ((url) => new EventSource(url, { withCredentials: true }));
  htmx.createEventSource = (url) => {
    const s = openStream(url);
    streams.add(s);
    return s;
  };
  window.addEventListener('pagehide', () => {
    streams.forEach((s) => s.close());
    streams.clear();
  });
  window.addEventListener('pageshow', (e) => { if (e.persisted) location.reload(); });
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

  // ---- Inbox: live rows that fit the view, read marks, presence, keys ----
  const me = () => (document.body && document.body.dataset.userId) || '';
  const inbox = {
    // Does row li belong in the list as it is filtered (view, status, sort)?
    fits(li, list) {
      const d = li.dataset, l = list.dataset;
      if (d.status !== l.status) return false;
      if (l.view === 'mine' && d.assignee !== l.user) return false;
      if (l.view === 'unassigned' && d.assignee !== '') return false;
      if (l.view === 'department' && d.department !== l.department) return false;
      if (l.sort === 'waiting' && !d.waiting) return false;
      return true;
    },
    // Handles a live row for the conversation list; true when it dealt with
    // the swap itself (dropped a row that belongs to another view, or updated
    // one in place where the list must not reorder).
    filterLive(target, fragment) {
      const list = document.getElementById('conv-list');
      if (!list) return false;
      const rows = Array.from(fragment.children).filter((el) => el.id && el.id.startsWith('conv-item-'));
      if (!rows.length) return false;
      const onList = target === list || list.contains(target);
      if (!onList) return false;
      let handled = false;
      rows.forEach((el) => {
        const old = document.getElementById(el.id);
        const keepActive = old && old.querySelector('.conv-item.active');
        if (keepActive) {
          const item = el.querySelector('.conv-item');
          if (item) { item.classList.add('active'); item.classList.remove('unread'); }
        }
        const mode = list.dataset.live;
        if (!inbox.fits(el, list)) { if (old) old.remove(); el.remove(); handled = true; return; }
        if (mode !== 'move-to-top') {
          // Search results and the waiting order keep their rows where they are.
          if (old) { old.replaceWith(el); htmx.process(el); } else el.remove();
          handled = true;
        }
      });
      return handled;
    },
    // A header or row rendered from older data than the one shown (an
    // action's answer overtaken by the live update of a later action) is
    // dropped: data-rev is when the server read what it rendered.
    stale(target, fragment) {
      if (!target.matches || !target.matches('.conversation-header, [id^="conv-item-"]')) return false;
      const incoming = fragment.firstElementChild || fragment;
      const rev = (el) => Number((el && el.getAttribute && el.getAttribute('data-rev')) || 0);
      return rev(incoming) > 0 && rev(incoming) < rev(target);
    },
    conversationId() {
      const pane = document.querySelector('#conv-pane[data-conversation]');
      return pane ? pane.dataset.conversation : '';
    },
    post(path, data, beacon) {
      const meta = document.querySelector('meta[name="csrf-token"]');
      const body = new FormData();
      if (meta) body.append('_csrf', meta.content);
      Object.entries(data || {}).forEach(([k, v]) => body.append(k, v));
      if (beacon && navigator.sendBeacon) { navigator.sendBeacon(path, body); return; }
      fetch(path, { method: 'POST', body, credentials: 'same-origin', headers: { 'HX-Request': 'true' } }).catch(() => {});
    },
  };

  // A message arriving in the open conversation is read: mark it so the
  // unread badges of this user stay true, and clear the row's dot.
  let readTimer;
  function markOpenRead() {
    const id = inbox.conversationId();
    if (!id || document.hidden) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(() => inbox.post('/conversations/' + id + '/read'), 500);
    const item = document.querySelector('#conv-item-' + id + ' .conv-item');
    if (item) item.classList.remove('unread');
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden) markOpenRead(); });

  // Presence: who else has this conversation open or is replying.
  let presenceFor = '', typingTimer, typing = false;
  function presence(extra) {
    if (presenceFor) inbox.post('/conversations/' + presenceFor + '/presence', extra);
  }
  function leave() { if (presenceFor) inbox.post('/conversations/' + presenceFor + '/presence', { leave: '1' }, true); presenceFor = ''; }
  setInterval(() => { if (presenceFor && !document.hidden) presence({ typing: typing ? '1' : '0' }); }, 15000);
  window.addEventListener('pagehide', leave);
  document.addEventListener('input', (e) => {
    if (!e.target.matches || !e.target.matches('#reply-body')) return;
    if (!typing) { typing = true; presence({ typing: '1' }); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { typing = false; presence({ typing: '0' }); }, 6000);
  });
  function tidyPresence() {
    const now = Date.now();
    document.querySelectorAll('.presence').forEach((box) => {
      let shown = 0;
      box.querySelectorAll('.viewer').forEach((v) => {
        const stale = now - Date.parse(v.dataset.seen) > 60000;
        const hide = v.dataset.userId === me() || stale;
        v.hidden = hide;
        if (!hide) shown++;
      });
      box.classList.toggle('has-viewers', shown > 0);
    });
  }
  setInterval(tidyPresence, 10000);

  // Header: hide "Assign to me" when it is mine; count the WhatsApp window
  // down, and ask the server for a new composer when the window opens or closes.
  function refreshComposer() {
    const form = document.getElementById('reply-form');
    const id = inbox.conversationId();
    if (!form || !id) return;
    const sel = form.querySelector('[name="sender_id"]');
    const body = form.querySelector('[name="body"]');
    const q = new URLSearchParams({ sender_id: sel ? sel.value : '', body: body ? body.value : '' });
    htmx.ajax('GET', '/conversations/' + id + '/composer?' + q.toString(), { target: '#reply-form', swap: 'outerHTML' });
  }
  function tidyHeader() {
    document.querySelectorAll('.conversation-header').forEach((h) => {
      const mine = h.dataset.assignee && h.dataset.assignee === me();
      const btn = h.querySelector('#action-assign-me');
      if (btn) btn.hidden = !!mine;
      const form = document.getElementById('reply-form');
      const closes = h.dataset.windowCloses ? Date.parse(h.dataset.windowCloses) : 0;
      const left = closes - Date.now();
      const pill = h.querySelector('.window-left');
      if (pill && left > 0) {
        const m = Math.floor(left / 60000);
        pill.textContent = m < 1 ? 'under a minute' : m < 60 ? m + ' min' : Math.floor(m / 60) + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
      }
      const blocked = form && form.dataset.blocked === 'window';
      if (form && h.dataset.channel === 'whatsapp' && form.querySelector('[name="sender_id"]') &&
          ((blocked && left > 0) || (!blocked && closes && left <= 0 && form.dataset.blocked === ''))) {
        refreshComposer();
      }
    });
  }
  setInterval(tidyHeader, 30000);

  htmx.onLoad((elt) => {
    if (!(elt instanceof Element)) return;
    const id = inbox.conversationId();
    if (id !== presenceFor) { leave(); presenceFor = id; if (id) presence({ typing: '0' }); }
    if (elt.closest('.thread') && elt.matches('.msg-in')) {
      markOpenRead();
      // The contact wrote: the window, or their consent (STOP/START), may
      // have changed. Ask for a fresh composer unless someone is typing in it.
      const box = document.getElementById('reply-body');
      if (box && (!box.value || box.disabled)) refreshComposer();
    }
    if (elt.matches('#conv-pane') || elt.querySelector('#conv-pane')) {
      document.querySelectorAll('#conv-list .conv-item.active').forEach((a) => a.classList.remove('active'));
      const item = id && document.querySelector('#conv-item-' + id + ' .conv-item');
      if (item) item.classList.add('active');
      if (id) markOpenRead();
      document.querySelector('.inbox') && document.querySelector('.inbox').classList.toggle('has-conversation', !!id);
    }
    if (elt.matches('.conversation-header') || elt.querySelector('.conversation-header')) tidyHeader();
    if (elt.matches('.presence') || elt.querySelector('.presence')) tidyPresence();
  });

  // Keyboard: j/k move through the list, r reply, e close, a assign to me,
  // Escape leaves a text box so the letters work again.
  // Disclosure menus in the top bar (Admin): open and close by click or
  // keyboard; Escape, a click elsewhere or focus leaving closes them.
  const menuOf = (btn) => document.getElementById(btn.getAttribute('aria-controls'));
  const setMenu = (btn, open) => {
    const m = menuOf(btn);
    if (!m) return;
    btn.setAttribute('aria-expanded', open ? 'true' : 'false');
    m.hidden = !open;
  };
  const closeMenus = (except) => document.querySelectorAll('[data-menu-toggle][aria-expanded="true"]')
    .forEach((b) => { if (b !== except) setMenu(b, false); });
  document.addEventListener('click', (e) => {
    const btn = e.target.closest('[data-menu-toggle]');
    if (btn) {
      closeMenus(btn);
      const open = btn.getAttribute('aria-expanded') !== 'true';
      setMenu(btn, open);
      if (open) { const first = menuOf(btn).querySelector('a'); if (first) first.focus(); }
      return;
    }
    if (!e.target.closest('.nav-menu')) closeMenus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    const open = document.querySelector('[data-menu-toggle][aria-expanded="true"]');
    if (open) { setMenu(open, false); open.focus(); }
  });
  document.addEventListener('focusout', (e) => {
    const menu = e.target.closest('.nav-menu');
    if (menu && e.relatedTarget && !menu.contains(e.relatedTarget)) closeMenus();
  });

  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const editing = t.matches && t.matches('input, textarea, select, [contenteditable]');
    if (e.key === 'Escape' && editing && t.closest('#conv-pane')) {
      t.blur();
      const active = document.querySelector('#conv-list .conv-item.active');
      if (active) active.focus();
      return;
    }
    if (editing || document.querySelector('dialog[open]')) return;
    const items = Array.from(document.querySelectorAll('#conv-list .conv-item'));
    // The request is made from the button's attributes rather than by
    // clicking it: a live update may replace the header (and the button)
    // while the request is in flight, and htmx drops answers for detached
    // elements. The next live update brings the outcome anyway.
    const click = (sel) => {
      const b = document.querySelector(sel);
      if (!b || b.hidden || b.disabled) return;
      e.preventDefault();
      // fetch, not htmx.ajax: htmx drops a request from an element that
      // still has one in flight, and a quick "a" then "e" would lose the "e".
      const meta = document.querySelector('meta[name="csrf-token"]');
      const body = new URLSearchParams(JSON.parse(b.getAttribute('hx-vals') || '{}'));
      const dest = b.getAttribute('hx-target');
      fetch(b.getAttribute('hx-post'), {
        method: 'POST', body, credentials: 'same-origin',
        headers: { 'HX-Request': 'true', 'X-CSRF-Token': meta ? meta.content : '' },
      }).then((r) => r.text().then((html) => {
        if (!r.ok) { toast('That did not work (' + r.status + '). Please try again.', 'error'); return; }
        const cur = dest && document.querySelector(dest);
        if (!cur) return;
        const tpl = document.createElement('template');
        tpl.innerHTML = html;
        if (inbox.stale(cur, tpl.content)) return; // a later change is already shown
        htmx.swap(dest, html, { swapStyle: 'outerHTML' });
      })).catch(() => toast('Could not reach Classline. Check the connection and try again.', 'error'));
    };
    switch (e.key) {
      case 'j': case 'k': {
        if (!items.length) return;
        e.preventDefault();
        // Focus first (a swap may still be on its way), then the open one.
        let cur = items.indexOf(document.activeElement);
        if (cur < 0) cur = items.findIndex((a) => a.classList.contains('active'));
        const next = cur < 0 ? 0 : Math.min(items.length - 1, Math.max(0, cur + (e.key === 'j' ? 1 : -1)));
        items[next].focus();
        if (next !== cur) items[next].click();
        break;
      }
      case 'r': {
        const box = document.getElementById('reply-body');
        if (box && !box.disabled) { e.preventDefault(); box.focus(); }
        break;
      }
      case 'e': click('#action-close'); break;
      case 'a': click('#action-assign-me'); break;
    }
  });

  // Live updates are OOB appends ("beforeend:#thread-1", "afterbegin:#conv-list")
  // that often carry an element already on the page: a message whose status
  // changed, a conversation with news. htmx would add a second copy. Instead
  // a copy is replaced where it stands, or, inside [data-live="move-to-top"],
  // the old one is dropped so the new one lands on top (keeping .active).
  document.addEventListener('htmx:oobBeforeSwap', (e) => {
    const { target, fragment } = e.detail;
    if (inbox.stale(target, fragment)) { e.detail.shouldSwap = false; return; }
    if (inbox.filterLive(target, fragment)) { e.detail.shouldSwap = false; return; }
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
        // A message rendered before its last change (the send's own answer
        // overtaken by the live status update) must not undo that change.
        const rev = (x) => Number(x.getAttribute('data-rev') || 0);
        if (old.matches('.msg') && rev(el) > 0 && rev(el) < rev(old)) { el.remove(); return; }
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
    // Moving through the list with j/k keeps focus in the list, so the next
    // j/k still works after the conversation swaps in.
    const inList = a && a.closest && a.closest('#conv-list');
    if (target && !typing && !inList) target.focus({ preventScroll: true });
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
