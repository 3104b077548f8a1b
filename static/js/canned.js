// Canned replies: typing "/" and the start of a name in a textarea[data-canned]
// (the value is the conversation id) offers the department's snippets in a
// listbox under it. ArrowUp/ArrowDown move, Enter/Tab/click insert the text in
// place of "/name", Escape closes. A "/" inside a word ("1/2", "and/or") or not
// followed by a name never opens anything. Loaded with defer after app.js;
// works for textareas swapped in later (event delegation).
(function () {
  'use strict';

  // "/" at the start or after whitespace, then a name's first characters, up to the caret.
  const TRIGGER = /(^|\s)\/([a-z0-9][a-z0-9-]{0,39})$/i;
  const DELAY = 120; // ms between the last key and the request

  let state = null; // { ta, list, status, start, end, request, timer, active }
  let seq = 0;
  let swallowEnter = false; // the Enter that inserted must not also add a line

  const isCanned = (el) => el instanceof HTMLTextAreaElement && el.hasAttribute('data-canned');
  const options = () => (state ? Array.from(state.list.querySelectorAll('[role="option"]')) : []);

  function listID(ta) {
    if (!ta.id) ta.id = 'canned-ta-' + (++seq);
    return ta.id + '-canned';
  }

  function ensureUI(ta) {
    const id = listID(ta);
    let list = document.getElementById(id);
    if (!list) {
      list = document.createElement('ul');
      list.id = id;
      list.className = 'canned-list canned-popup';
      list.setAttribute('role', 'listbox');
      list.setAttribute('aria-label', 'Saved replies');
      list.hidden = true;
      ta.insertAdjacentElement('afterend', list);
      if (ta.parentElement) ta.parentElement.classList.add('canned-host');
      // Keep focus (and the caret) in the textarea when an option is clicked.
      list.addEventListener('mousedown', (e) => e.preventDefault());
      list.addEventListener('click', (e) => {
        const opt = e.target instanceof Element && e.target.closest('[role="option"]');
        if (opt && state && state.list === list) insert(opt);
      });
    }
    let status = document.getElementById(id + '-status');
    if (!status) {
      status = document.createElement('div');
      status.id = id + '-status';
      status.className = 'sr-only';
      status.setAttribute('role', 'status');
      list.insertAdjacentElement('afterend', status);
    }
    ta.setAttribute('aria-autocomplete', 'list');
    ta.setAttribute('aria-controls', id);
    if (!ta.hasAttribute('aria-expanded')) ta.setAttribute('aria-expanded', 'false');
    return { list, status };
  }

  function close() {
    if (!state) return;
    clearTimeout(state.timer);
    state.list.hidden = true;
    state.list.replaceChildren();
    state.list.classList.remove('canned-above');
    state.ta.setAttribute('aria-expanded', 'false');
    state.ta.removeAttribute('aria-activedescendant');
    state.status.textContent = '';
    state.request = 0; // answers still on their way are dropped
    state = null;
  }

  function setActive(i) {
    const opts = options();
    if (!opts.length) return;
    i = (i + opts.length) % opts.length;
    opts.forEach((o, j) => o.setAttribute('aria-selected', j === i ? 'true' : 'false'));
    state.active = i;
    state.ta.setAttribute('aria-activedescendant', opts[i].id);
    opts[i].scrollIntoView({ block: 'nearest' });
  }

  // Under the textarea, or above it when there is no room below (the
  // conversation composer sits at the bottom of the screen).
  function place() {
    const { ta, list } = state;
    list.classList.remove('canned-above');
    list.style.left = ta.offsetLeft + 'px';
    list.style.width = ta.offsetWidth + 'px';
    list.style.top = (ta.offsetTop + ta.offsetHeight + 4) + 'px';
    const r = ta.getBoundingClientRect();
    const h = list.offsetHeight;
    if (r.bottom + h + 8 > window.innerHeight && r.top > h + 8) {
      list.classList.add('canned-above');
      list.style.top = (ta.offsetTop - h - 4) + 'px';
    }
  }

  function show(html, s) {
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const got = doc.querySelector('ul[role="listbox"]');
    const opts = got ? Array.from(got.querySelectorAll('[role="option"]')) : [];
    if (!opts.length) { close(); return; }
    s.list.replaceChildren(...opts.map((o) => document.importNode(o, true)));
    s.list.hidden = false;
    s.ta.setAttribute('aria-expanded', 'true');
    setActive(0);
    place();
    s.status.textContent = opts.length === 1
      ? '1 canned reply. Enter inserts it, Escape closes.'
      : opts.length + ' canned replies. Arrow keys choose, Enter inserts, Escape closes.';
  }

  function fetchFor(s, q) {
    const req = ++seq;
    s.request = req;
    const url = '/replies/suggest?q=' + encodeURIComponent(q) +
      '&conversation=' + encodeURIComponent(s.ta.getAttribute('data-canned'));
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then((r) => (r.ok ? r.text() : ''))
      .then((html) => { if (state === s && s.request === req) show(html, s); })
      .catch(() => { if (state === s && s.request === req) close(); });
  }

  // Looks at the text before the caret; opens, updates or closes the menu.
  function update(ta) {
    const caret = ta.selectionStart;
    if (caret !== ta.selectionEnd || !ta.getAttribute('data-canned')) { if (state && state.ta === ta) close(); return; }
    const m = TRIGGER.exec(ta.value.slice(0, caret));
    if (!m) { if (state && state.ta === ta) close(); return; }
    if (state && state.ta !== ta) close();
    if (!state) state = Object.assign({ ta, active: 0, request: 0 }, ensureUI(ta));
    state.start = caret - m[2].length - 1; // where "/" is
    state.end = caret;
    clearTimeout(state.timer);
    const s = state;
    s.timer = setTimeout(() => fetchFor(s, m[2].toLowerCase()), DELAY);
  }

  function insert(opt) {
    const { ta, start, end } = state;
    const body = opt.getAttribute('data-body') || '';
    close();
    ta.focus();
    ta.setRangeText(body, start, end, 'end');
    // Counters and drafts listen for input; this one is ours, not a keystroke.
    ta.dispatchEvent(new Event('input', { bubbles: true }));
  }

  document.addEventListener('input', (e) => {
    if (!isCanned(e.target) || e.isComposing) return;
    if (!(e instanceof InputEvent)) return; // our own, after an insert
    update(e.target);
  });

  // Capture phase on window: the open menu gets its keys before the page's
  // own shortcuts (app.js: Escape leaves the reply box), and keeps them.
  window.addEventListener('keydown', (e) => {
    if (!state || e.target !== state.ta || state.list.hidden || e.isComposing) return;
    switch (e.key) {
      case 'ArrowDown': setActive(state.active + 1); break;
      case 'ArrowUp': setActive(state.active - 1); break;
      case 'Enter':
      case 'Tab': {
        if (e.shiftKey || e.ctrlKey || e.metaKey || e.altKey) return;
        const opt = options()[state.active];
        if (!opt) return;
        swallowEnter = e.key === 'Enter';
        insert(opt);
        break;
      }
      case 'Escape': close(); break;
      default: return;
    }
    e.preventDefault();
    e.stopPropagation();
  }, true);

  // Cancelling keydown normally stops Enter's line break; some input paths
  // (synthetic keyboards, automation) still send it: drop that one.
  document.addEventListener('beforeinput', (e) => {
    if (swallowEnter && isCanned(e.target) && (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph')) e.preventDefault();
    swallowEnter = false;
  });
  document.addEventListener('keyup', (e) => { if (e.key === 'Enter') swallowEnter = false; });

  // Moving the caret away from "/name" (mouse or arrows) closes or re-targets the menu.
  document.addEventListener('keyup', (e) => {
    if (isCanned(e.target) && ['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) update(e.target);
  });
  document.addEventListener('click', (e) => { if (isCanned(e.target)) update(e.target); });
  document.addEventListener('focusout', (e) => { if (state && e.target === state.ta) close(); });
  // A sent reply swaps the composer out; a menu of the old one must not linger.
  document.addEventListener('htmx:afterSwap', () => { if (state && !document.contains(state.ta)) close(); });
  window.addEventListener('resize', () => { if (state && !state.list.hidden) place(); });
})();
