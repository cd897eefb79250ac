// DMS Enterprise web UI: the few things the browser must do itself. No inline scripts (CSP script-src 'self').
(function () {
  'use strict';

  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  // Every htmx request carries the antiforgery token, like the forms do.
  document.addEventListener('htmx:configRequest', function (e) {
    e.detail.headers['RequestVerificationToken'] = token();
  });

  // Small-screen menu.
  document.addEventListener('click', function (e) {
    var toggle = e.target.closest('[data-toggle="sidebar"]');
    if (!toggle) return;
    var open = document.body.classList.toggle('nav-open');
    toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  });

  // Forms that ask before doing something that cannot be undone lightly.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) e.preventDefault();
  });

  /** The API's problem+json in plain words (title, then detail); never raw exception text. */
  function problemText(xhr, fallback) {
    try {
      var p = JSON.parse(xhr.responseText);
      if (p && p.title) return p.detail && p.detail !== p.title ? p.title + ' ' + p.detail : p.title;
    } catch (ignored) { /* not JSON */ }
    if (xhr.status === 0) return 'The connection was lost; check your network and try again.';
    if (xhr.status === 401) return 'Your session has ended; sign in again.';
    return fallback || 'Something went wrong (HTTP ' + xhr.status + ').';
  }

  /** XMLHttpRequest as a promise, with upload progress. Resolves with the xhr whatever its status. */
  function send(method, url, body, headers, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      Object.keys(headers || {}).forEach(function (h) { xhr.setRequestHeader(h, headers[h]); });
      if (onProgress && xhr.upload) {
        xhr.upload.addEventListener('progress', function (e) { if (e.lengthComputable) onProgress(e.loaded, e.total); });
      }
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = function () { resolve(xhr); };
      xhr.onabort = function () { resolve(xhr); };
      xhr.send(body);
    });
  }

  function postJson(url, value) {
    return send('POST', url, JSON.stringify(value), { 'Content-Type': 'application/json', 'RequestVerificationToken': token() });
  }

  function ok(xhr) { return xhr.status >= 200 && xhr.status < 300; }

  function json(xhr) { try { return JSON.parse(xhr.responseText); } catch (e) { return null; } }

  /**
   * Sends one file's bytes: an upload session (direct to storage, with progress), or, when the storage URL
   * cannot be reached from the browser, the streaming endpoint. Returns {session} or {streamed} or {error}.
   */
  async function transfer(file, progress, streamUrl, streamFields, typed) {
    // A replacement keeps its document's type: only new documents are uploaded into one.
    typed = typed || { typeId: null, fields: null };
    var created = await postJson('/ui/api/uploads', { fileName: file.name, size: file.size, contentType: file.type || null,
      typeId: typed.typeId, fields: typed.fields });
    if (!ok(created)) return { error: problemText(created) };
    var session = json(created);
    var parts = [];
    var sent = 0;
    if (session.url) {
      var put = await send('PUT', session.url, file, {}, function (loaded) { progress(loaded, file.size); });
      if (ok(put)) return { session: session, parts: null };
      if (put.status !== 0) return { error: problemText(put, 'The storage refused the file.') };
    } else if (session.parts) {
      var failed = false;
      for (var i = 0; i < session.parts.length && !failed; i++) {
        var part = session.parts[i];
        var from = (part.number - 1) * session.partSize;
        var chunk = file.slice(from, Math.min(file.size, from + session.partSize));
        var r = await send('PUT', part.url, chunk, {}, function (loaded) { progress(sent + loaded, file.size); });
        if (!ok(r)) {
          if (r.status !== 0) return { error: problemText(r, 'The storage refused part ' + part.number + '.') };
          failed = true;
          break;
        }
        sent += chunk.size;
        parts.push({ number: part.number, eTag: r.getResponseHeader('ETag') || '' });
      }
      if (!failed) return { session: session, parts: parts };
    }
    // The storage is out of the browser's reach (another origin without CORS, a proxy): stream through the app.
    await send('DELETE', '/ui/api/uploads/' + session.id, null, { 'RequestVerificationToken': token() });
    var form = new FormData();
    Object.keys(streamFields).forEach(function (k) { if (streamFields[k] != null) form.append(k, streamFields[k]); });
    if (typed.typeId) { form.append('typeId', typed.typeId); form.append('fields', JSON.stringify(typed.fields || {})); }
    form.append('file', file, file.name);
    var streamed = await send('POST', streamUrl, form, { 'RequestVerificationToken': token() }, function (loaded, total) { progress(loaded, total); });
    if (ok(streamed)) return { streamed: json(streamed) };
    var refused = problemCode(streamed) === 'document.duplicate' ? json(streamed).duplicateOf : null;
    return { error: problemText(streamed), duplicateOf: refused };
  }

  function addRow(list, file) {
    var li = document.createElement('li');
    li.className = 'upload-row';
    var name = document.createElement('span');
    name.className = 'name';
    name.textContent = file.name;
    var bar = document.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute('aria-label', 'Upload progress of ' + file.name);
    var status = document.createElement('span');
    status.className = 'status';
    status.setAttribute('data-testid', 'upload-status');
    status.textContent = 'Waiting…';
    li.append(name, bar, status);
    list.appendChild(li);
    return {
      progress: function (loaded, total) {
        var pct = total > 0 ? Math.round((loaded / total) * 100) : 100;
        bar.value = pct;
        status.textContent = pct + '%';
      },
      done: function (doc) {
        bar.value = 100;
        li.classList.add('ok');
        status.textContent = 'Uploaded ';
        var a = document.createElement('a');
        a.href = '/documents/' + doc.id;
        a.textContent = 'open';
        status.appendChild(a);
      },
      fail: function (message) {
        li.classList.add('bad');
        status.setAttribute('role', 'alert');
        status.textContent = message;
      },
      duplicate: function (ids, refused) { showDuplicate(li, ids, refused); }
    };
  }

  /**
   * "This file is already here": names the first existing copy the uploader may open (duplicateOf only ever holds
   * those). Kept: both stay and "Keep both" only closes the notice. Refused: nothing was kept, so only the way there.
   */
  async function showDuplicate(li, ids, refused) {
    if (!ids || !ids.length) return;
    var id = ids[0];
    var title = 'the existing document';
    var r = await send('GET', '/ui/documents/' + encodeURIComponent(id), null, {});
    if (ok(r) && json(r) && json(r).title) title = json(r).title;
    var box = document.createElement('div');
    box.className = 'duplicate-notice';
    box.setAttribute('role', 'status');
    box.setAttribute('data-testid', 'duplicate-notice');
    var text = document.createElement('p');
    text.append('This file is already here: ');
    var link = document.createElement('a');
    link.href = '/documents/' + id;
    link.textContent = title;
    var more = ids.length > 1 ? ' (and ' + (ids.length - 1) + ' more copies)' : '';
    text.append(link, more + (refused ? '. It was not uploaded again.' : '. Your upload was kept as well.'));
    var open = document.createElement('a');
    open.className = 'btn small primary';
    open.href = '/documents/' + id;
    open.textContent = 'Open the existing one';
    box.append(text, open);
    if (!refused) {
      var keep = document.createElement('button');
      keep.type = 'button';
      keep.className = 'btn small';
      keep.textContent = 'Keep both';
      keep.addEventListener('click', function () { box.remove(); });
      box.append(' ', keep);
    }
    li.appendChild(box);
  }

  /** The type chosen above the file picker and its values ({} when none): empty inputs are left out, so defaults apply. */
  function chosenType() {
    var select = document.getElementById('upload-type');
    if (!select || !select.value) return { typeId: null, fields: null };
    var fields = {};
    var group = document.querySelector('[data-type-fields="' + select.value + '"]');
    Array.prototype.forEach.call(group ? group.querySelectorAll('[data-field]') : [], function (input) {
      var key = input.getAttribute('data-field');
      var kind = input.getAttribute('data-kind');
      if (kind === 'multiselect') {
        var picked = Array.prototype.filter.call(input.options, function (o) { return o.selected; }).map(function (o) { return o.value; });
        if (picked.length) fields[key] = picked;
        return;
      }
      var v = input.value.trim();
      if (v === '') return;
      fields[key] = kind === 'number' ? Number(v) : kind === 'boolean' ? v === 'true' : v;
    });
    return { typeId: select.value, fields: fields };
  }

  function wireUploadType() {
    var select = document.getElementById('upload-type');
    if (!select) return;
    select.addEventListener('change', function () {
      document.querySelectorAll('[data-type-fields]').forEach(function (g) { g.hidden = g.getAttribute('data-type-fields') !== select.value; });
    });
  }

  async function uploadOne(zone, list, file, typed) {
    var row = addRow(list, file);
    var workspaceId = zone.getAttribute('data-workspace');
    // Into the folder being browsed, if any (its workspace is implied, but both agree).
    var folderId = zone.getAttribute('data-folder') || null;
    var result = await transfer(file, row.progress, '/ui/api/documents', { workspaceId: workspaceId, folderId: folderId }, typed);
    if (result.error) {
      row.fail(result.error);
      if (result.duplicateOf) row.duplicate(result.duplicateOf, true);
      return false;
    }
    if (result.streamed) { row.done(result.streamed); row.duplicate(result.streamed.duplicateOf, false); return true; }
    var completed = await postJson('/ui/api/uploads/' + result.session.id + '/complete', { workspaceId: workspaceId, folderId: folderId, parts: result.parts });
    if (!ok(completed)) {
      row.fail(problemText(completed));
      if (problemCode(completed) === 'document.duplicate') {
        // Refused: the verified bytes would otherwise wait in their session until it expires.
        await send('DELETE', '/ui/api/uploads/' + result.session.id, null, { 'RequestVerificationToken': token() });
        row.duplicate(json(completed).duplicateOf, true);
      }
      return false;
    }
    var doc = json(completed);
    row.done(doc);
    row.duplicate(doc.duplicateOf, false);
    return true;
  }

  async function uploadAll(zone, files) {
    var list = document.getElementById('upload-list');
    var typed = chosenType();
    var jobs = Array.prototype.map.call(files, function (f) { return uploadOne(zone, list, f, typed); });
    var results = await Promise.all(jobs);
    if (results.some(Boolean) && window.htmx && document.getElementById('results')) {
      window.htmx.ajax('GET', window.location.pathname + window.location.search, { target: '#results', select: '#results', swap: 'outerHTML' });
    }
  }

  function wireDropzone(zone) {
    var picker = document.getElementById('file-picker');
    ['dragenter', 'dragover'].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.add('over'); });
    });
    ['dragleave', 'drop'].forEach(function (t) {
      zone.addEventListener(t, function (e) { e.preventDefault(); zone.classList.remove('over'); });
    });
    zone.addEventListener('drop', function (e) { if (e.dataTransfer && e.dataTransfer.files.length) uploadAll(zone, e.dataTransfer.files); });
    zone.addEventListener('keydown', function (e) {
      if ((e.key === 'Enter' || e.key === ' ') && e.target === zone) { e.preventDefault(); picker.click(); }
    });
    picker.addEventListener('change', function () {
      if (picker.files.length) uploadAll(zone, picker.files);
      picker.value = '';
    });
  }

  /** The API problem's code (approval.no_eligible_approvers), or null. */
  function problemCode(xhr) {
    try { var p = JSON.parse(xhr.responseText); return p && p.code ? p.code : null; } catch (ignored) { return null; }
  }

  function wireReplace(form) {
    form.addEventListener('submit', async function (e) {
      e.preventDefault();
      var documentId = form.getAttribute('data-replace');
      var file = form.querySelector('input[type=file]').files[0];
      var reason = form.querySelector('[name=reason]').value;
      var out = form.querySelector('.form-status');
      out.className = 'form-status';
      if (!file) { out.textContent = 'Choose the new file first.'; out.classList.add('bad'); return; }
      var button = form.querySelector('button[type=submit]');
      button.disabled = true;
      var bar = form.querySelector('progress');
      bar.hidden = false;
      var url = '/ui/api/documents/' + documentId + '/replace-requests';
      var result = await transfer(file, function (l, t) { bar.value = t > 0 ? Math.round(l / t * 100) : 100; }, url, { reason: reason });
      if (!result.error && result.session) {
        var r = await postJson(url, { uploadId: result.session.id, reason: reason, parts: result.parts });
        if (!ok(r)) result = { error: problemText(r), code: problemCode(r) };
      }
      button.disabled = false;
      var guidance = document.getElementById('no-approvers');
      if (guidance && result.code === 'approval.no_eligible_approvers') guidance.hidden = false;
      if (result.error) { out.textContent = result.error; out.classList.add('bad'); out.setAttribute('role', 'alert'); return; }
      window.location.reload();
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('[data-upload]').forEach(wireDropzone);
    wireUploadType();
    document.querySelectorAll('form[data-replace]').forEach(wireReplace);
  });
})();

// Bulk actions: ticking a document opens the folded bar and says how many are ticked (delegated: htmx swaps the list).
document.addEventListener('change', (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || !box.classList.contains('bulk-pick')) return;
  const bar = document.getElementById('bulk-bar');
  if (!bar) return;
  const picked = document.querySelectorAll('input.bulk-pick:checked').length;
  if (picked > 0) bar.open = true;
  const count = bar.querySelector('[data-testid="bulk-picked"]');
  if (count) count.textContent = picked === 0 ? '' : picked === 1 ? '(1 document ticked)' : `(${picked} documents ticked)`;
});
