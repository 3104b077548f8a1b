// A department's page: show the time fields only for days that are open,
// and preview the out-of-hours reply as it is typed. The server renders the
// same preview and keeps every field working without this file.
(function () {
  'use strict';

  function initHours(root) {
    root.querySelectorAll('[data-hours-day]').forEach(function (row) {
      if (row.dataset.hoursReady) return;
      row.dataset.hoursReady = '1';
      const select = row.querySelector('[data-hours-mode]');
      if (!select) return;
      // Only with this script may the times hide: without it, picking
      // "Open" must still show somewhere to type them.
      row.classList.add('hours-js');
      const sync = function () {
        row.classList.remove('mode-closed', 'mode-open', 'mode-allday');
        row.classList.add('mode-' + select.value);
      };
      select.addEventListener('change', sync);
      sync();
    });
  }

  function fill(text, school, opens) {
    return text.split('{school}').join(school).split('{opens}').join(opens);
  }

  function initPreview(root) {
    root.querySelectorAll('[data-ooh-reply]').forEach(function (area) {
      if (area.dataset.previewReady) return;
      area.dataset.previewReady = '1';
      const form = area.closest('form');
      const preview = form && form.querySelector('[data-ooh-preview]');
      const count = form && form.querySelector('[data-ooh-count]');
      const update = function () {
        const text = area.value;
        if (preview) {
          preview.textContent = text.trim() === ''
            ? preview.dataset.empty
            : fill(text, preview.dataset.school || '', preview.dataset.opens || '');
        }
        if (count) {
          const n = Array.from(text).length;
          const max = Number(count.dataset.max) || 0;
          count.textContent = n + ' of ' + max + ' characters';
          count.classList.toggle('field-error', max > 0 && n > max);
        }
      };
      area.addEventListener('input', update);
    });
  }

  function init(root) {
    initHours(root);
    initPreview(root);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', function () { init(document); });
  } else {
    init(document);
  }
  // Parts of the page swapped in by htmx get the same behaviour.
  document.addEventListener('htmx:load', function (e) { init(e.target); });
})();
