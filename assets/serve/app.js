// checkuser serve: the page. Plain JavaScript (ES2017), no framework, no build step.
// Upload (drag and drop or the file button, with progress), the guessed mapping and the plan,
// Start, and the list of this user's jobs kept up to date by Server-Sent Events.
(function () {
  'use strict';

  // ---- Strings: every text of the page, in English and Simplified Chinese. ----------------
  var STRINGS = {
    en: {
      page_title: 'checkuser',
      skip: 'Skip to the page',
      signed_in_as: 'Signed in as',
      logout: 'Log out',
      title: 'Check a lead list',
      close: 'Close',
      upload_heading: '1. Upload a list',
      drop_here: 'Drop a CSV file or a workbook here, or press Enter to choose one',
      drop_help: 'CSV, XLSX, XLSM, XLS or ODS; the first row names the columns.',
      choose_file: 'Or choose a file:',
      uploading: 'Uploading…',
      upload_done: 'Uploaded. Reading the list…',
      mapping_heading: '2. Check the columns',
      file_label: 'File:',
      columns_label: 'Columns:',
      no_columns: '(none read)',
      checks_legend: 'What to check in each row',
      no_checks: 'No check: the file must then have searchType and searchKey columns.',
      add_check: 'Add a check',
      remove_check: 'Remove',
      remove_check_label: 'Remove check {n}',
      check_type: 'Check {n}: type',
      check_column: 'Check {n}: column',
      type_email: 'Email',
      type_mobile: 'Mobile number',
      type_name: 'Account name',
      default_country: 'Default country for mobiles',
      default_country_help: 'A region (DE) or calling code (49) for numbers written without one; empty: none.',
      header_row: 'Header row',
      header_row_help: 'The row that names the columns; empty: the first.',
      sheet: 'Sheet',
      sheet_help: 'A sheet name or #N; empty: the first sheet.',
      plan_heading: 'Plan',
      plan_none: 'No plan yet: fix the mapping above.',
      plan_updating: 'Updating the plan…',
      plan_rows: 'Rows',
      plan_checks: 'Checks',
      plan_invalid: 'Invalid (not asked)',
      plan_from_store: 'Answers already known (from the store)',
      plan_to_ask: 'Values to ask',
      plan_time: 'Time at the rate',
      plan_time_value: '{time} at {rate} requests per second',
      plan_pending: 'Would stay pending',
      plan_pending_none: 'none',
      start: 'Start',
      discard: 'Discard',
      jobs_heading: 'Your jobs',
      no_jobs: 'No jobs yet.',
      status_planned: 'planned',
      status_queued: 'queued',
      status_running: 'running',
      status_done: 'done',
      status_failed: 'failed',
      status_cancelled: 'cancelled',
      progress_label: 'Progress of {name}',
      progress_text: '{done} of {total} values asked',
      summary_text: '{rows} rows, {checks} checks',
      planned_text: 'Not started: {ask} values to ask, about {time}',
      eta: 'about {time} left',
      count_free: 'free',
      count_taken: 'taken',
      count_uplimit: 'uplimit',
      count_invalid: 'invalid',
      count_error: 'error',
      count_pending: 'pending',
      count_skipped: 'skipped',
      download_result: 'Download the checked list',
      download_changes: 'Download the changes',
      download_as_csv: 'as CSV',
      download_as_xlsx: 'as a workbook',
      setup: 'Set up and start',
      cancel: 'Cancel',
      delete: 'Delete',
      confirm_delete: 'Delete the job {name} and its files?',
      created: 'uploaded {when}',
      seconds: '{n} s',
      minutes: '{n} min',
      hours: '{h} h {m} min',
      announce_status: '{name}: {status}',
      http_error: 'The server answered {status}.',
      network_error: 'The server could not be reached.',
      too_big: 'The file is too big for this server.'
    },
    'zh-CN': {
      page_title: 'checkuser',
      skip: '跳到正文',
      signed_in_as: '当前用户',
      logout: '退出登录',
      title: '检查客户名单',
      close: '关闭',
      upload_heading: '1. 上传名单',
      drop_here: '把 CSV 文件或表格文件拖到这里，或按回车键选择文件',
      drop_help: '支持 CSV、XLSX、XLSM、XLS、ODS；第一行为列名。',
      choose_file: '或选择文件：',
      uploading: '正在上传…',
      upload_done: '已上传，正在读取名单…',
      mapping_heading: '2. 核对列',
      file_label: '文件：',
      columns_label: '列：',
      no_columns: '（未读到）',
      checks_legend: '每行要检查的内容',
      no_checks: '没有检查项：文件中必须有 searchType 和 searchKey 列。',
      add_check: '添加检查项',
      remove_check: '删除',
      remove_check_label: '删除检查项 {n}',
      check_type: '检查项 {n}：类型',
      check_column: '检查项 {n}：列',
      type_email: '邮箱',
      type_mobile: '手机号',
      type_name: '账号名',
      default_country: '手机号的默认国家',
      default_country_help: '用于未写国家代码的号码：地区（CN）或国家代码（86）；留空表示无。',
      header_row: '列名所在行',
      header_row_help: '写有列名的那一行；留空表示第一行。',
      sheet: '工作表',
      sheet_help: '工作表名称或 #N；留空表示第一个工作表。',
      plan_heading: '计划',
      plan_none: '尚无计划：请先修正上面的列设置。',
      plan_updating: '正在更新计划…',
      plan_rows: '行数',
      plan_checks: '检查项数',
      plan_invalid: '无效（不查询）',
      plan_from_store: '已知结果（来自本地存储）',
      plan_to_ask: '需要查询的值',
      plan_time: '按当前速率所需时间',
      plan_time_value: '{time}（每秒 {rate} 个请求）',
      plan_pending: '将保持待定',
      plan_pending_none: '无',
      start: '开始',
      discard: '放弃',
      jobs_heading: '我的任务',
      no_jobs: '还没有任务。',
      status_planned: '待开始',
      status_queued: '排队中',
      status_running: '运行中',
      status_done: '已完成',
      status_failed: '失败',
      status_cancelled: '已取消',
      progress_label: '{name} 的进度',
      progress_text: '已查询 {done} / {total} 个值',
      summary_text: '{rows} 行，{checks} 个检查项',
      planned_text: '未开始：需要查询 {ask} 个值，约 {time}',
      eta: '预计还需 {time}',
      count_free: '可用',
      count_taken: '已占用',
      count_uplimit: '超出上限',
      count_invalid: '无效',
      count_error: '出错',
      count_pending: '待定',
      count_skipped: '已跳过',
      download_result: '下载检查结果',
      download_changes: '下载变化',
      download_as_csv: 'CSV 格式',
      download_as_xlsx: '表格格式',
      setup: '设置并开始',
      cancel: '取消',
      delete: '删除',
      confirm_delete: '删除任务 {name} 及其文件？',
      created: '上传于 {when}',
      seconds: '{n} 秒',
      minutes: '{n} 分钟',
      hours: '{h} 小时 {m} 分钟',
      announce_status: '{name}：{status}',
      http_error: '服务器返回 {status}。',
      network_error: '无法连接服务器。',
      too_big: '文件太大，超出此服务器的限制。'
    }
  };

  var COUNT_KEYS = ['free', 'taken', 'uplimit', 'invalid', 'error', 'pending', 'skipped'];
  var CHECK_TYPES = ['email', 'mobile', 'name'];
  var ACTIVE = { queued: true, running: true };
  var MAX_STREAMS = 3; // keep HTTP/1.1 connections free for the page's own requests

  var i18n = checkuserI18n.translator(STRINGS);
  var lang = i18n.lang;
  var t = i18n.t;

  function num(n) {
    return typeof n === 'number' ? n.toLocaleString(lang) : String(n);
  }

  function duration(seconds) {
    var s = Math.max(0, Math.round(Number(seconds) || 0));
    if (s < 90) return t('seconds', { n: num(s) });
    var m = Math.round(s / 60);
    if (m < 90) return t('minutes', { n: num(m) });
    return t('hours', { h: num(Math.floor(m / 60)), m: num(m % 60) });
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] === null || attrs[k] === undefined || attrs[k] === false) return;
        if (k === 'className') e.className = attrs[k];
        else e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
      });
    }
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // ---- Messages -----------------------------------------------------------------------------
  function showError(text) {
    $('message-text').textContent = text;
    $('message').hidden = false;
  }

  function clearError() {
    $('message').hidden = true;
    $('message-text').textContent = '';
  }

  function announce(text) {
    var live = $('live');
    live.textContent = '';
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  // ---- API ----------------------------------------------------------------------------------
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';

  function errorFrom(status, bodyText) {
    var msg = '';
    try {
      var j = JSON.parse(bodyText);
      if (j && typeof j.error === 'string') msg = j.error;
    } catch (e) { /* not JSON */ }
    if (!msg && status === 413) msg = t('too_big');
    if (!msg) msg = t('http_error', { status: status });
    var err = new Error(msg);
    err.status = status;
    return err;
  }

  function api(method, path, body) {
    var headers = { 'Accept': 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
    var init = { method: method, headers: headers, credentials: 'same-origin' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      if (res.status === 401) {
        window.location.href = '/login';
        throw new Error(t('http_error', { status: 401 }));
      }
      if (res.status === 204) return null;
      return res.text().then(function (text) {
        if (!res.ok) throw errorFrom(res.status, text);
        return text ? JSON.parse(text) : null;
      });
    }, function () {
      throw new Error(t('network_error'));
    });
  }

  // ---- Translating the static page ------------------------------------------------------------
  function translatePage() {
    document.documentElement.lang = lang;
    document.title = t('page_title');
    var nodes = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute('data-i18n'));
    }
  }

  // ---- Upload ---------------------------------------------------------------------------------
  var uploading = false;

  function upload(file) {
    if (!file || uploading) return;
    clearError();
    uploading = true;
    var status = $('upload-status');
    var bar = $('upload-progress');
    var pct = $('upload-percent');
    $('upload-label').textContent = t('uploading');
    bar.value = 0;
    pct.textContent = '0 %';
    status.hidden = false;

    var form = new FormData();
    form.append('file', file, file.name);
    form.append('start', 'false');

    var xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/jobs');
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', function (e) {
      if (e.lengthComputable && e.total > 0) {
        var p = Math.round((e.loaded / e.total) * 100);
        bar.value = p;
        pct.textContent = p + ' %';
      }
    });
    xhr.upload.addEventListener('load', function () {
      bar.value = 100;
      pct.textContent = '100 %';
      $('upload-label').textContent = t('upload_done');
    });
    xhr.addEventListener('load', function () {
      uploading = false;
      status.hidden = true;
      $('file').value = '';
      if (xhr.status === 401) {
        window.location.href = '/login';
        return;
      }
      if (xhr.status < 200 || xhr.status >= 300) {
        showError(errorFrom(xhr.status, xhr.responseText).message);
        return;
      }
      var job;
      try { job = JSON.parse(xhr.responseText); } catch (e) { showError(t('http_error', { status: xhr.status })); return; }
      upsertJob(job);
      openMapping(job, true);
    });
    xhr.addEventListener('error', function () {
      uploading = false;
      status.hidden = true;
      showError(t('network_error'));
    });
    xhr.addEventListener('abort', function () {
      uploading = false;
      status.hidden = true;
    });
    xhr.send(form);
  }

  function setupUpload() {
    var zone = $('dropzone');
    var input = $('file');
    zone.addEventListener('click', function () { input.click(); });
    zone.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ' || e.key === 'Spacebar') {
        e.preventDefault();
        input.click();
      }
    });
    ['dragenter', 'dragover'].forEach(function (name) {
      zone.addEventListener(name, function (e) {
        e.preventDefault();
        if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
        zone.classList.add('over');
      });
    });
    ['dragleave', 'dragend'].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove('over'); });
    });
    zone.addEventListener('drop', function (e) {
      e.preventDefault();
      zone.classList.remove('over');
      var files = e.dataTransfer && e.dataTransfer.files;
      if (files && files.length) upload(files[0]);
    });
    // A file dropped beside the zone must not replace the page.
    window.addEventListener('dragover', function (e) { e.preventDefault(); });
    window.addEventListener('drop', function (e) { e.preventDefault(); });
    input.addEventListener('change', function () {
      if (input.files && input.files.length) upload(input.files[0]);
    });
  }

  // ---- Mapping and plan -------------------------------------------------------------------------
  var current = null;       // the job being set up (status planned or failed before start)
  var checks = [];          // [{type, column}] as shown
  var saving = Promise.resolve(true);
  var mappingOk = true;

  function openMapping(job, focus) {
    current = job;
    saving = saving.then(function () { return true; });
    checks = (job.checks || []).map(function (c) { return { type: c.type, column: c.column }; });
    $('mapping-section').setAttribute('data-job-id', job.id);
    var s = job.settings || {};
    $('default-country').value = s.default_country || '';
    $('header-row').value = s.header_row === null || s.header_row === undefined ? '' : String(s.header_row);
    $('sheet').value = s.sheet || '';
    $('sheet-field').hidden = !(isWorkbook(job.name) || s.sheet);
    renderMappingInfo(job);
    renderChecks();
    renderPlan(job);
    mappingOk = job.status !== 'failed';
    if (job.status === 'failed' && job.error) showError(job.error);
    $('mapping-section').hidden = false;
    if (focus) $('mapping-heading').focus();
  }

  function closeMapping() {
    current = null;
    checks = [];
    $('mapping-section').hidden = true;
  }

  function isWorkbook(name) {
    return /\.(xlsx|xlsm|xls|ods)$/i.test(String(name || ''));
  }

  function renderMappingInfo(job) {
    $('mapping-file').textContent = job.name || '';
    var cols = job.columns || [];
    $('mapping-columns').textContent = cols.length ? cols.join(', ') : t('no_columns');
    var notes = $('mapping-notes');
    notes.textContent = '';
    (job.notes || []).forEach(function (n) { notes.appendChild(el('li', null, n)); });
    notes.hidden = !(job.notes && job.notes.length);
  }

  function columnOptions(select, selected) {
    var cols = (current && current.columns) || [];
    var list = cols.slice();
    if (selected && list.indexOf(selected) < 0) list.unshift(selected);
    list.forEach(function (c) {
      var o = el('option', { value: c }, c);
      if (c === selected) o.selected = true;
      select.appendChild(o);
    });
  }

  function renderChecks() {
    var box = $('checks');
    var active = document.activeElement;
    var activeId = active && box.contains(active) ? active.id : null;
    box.textContent = '';
    checks.forEach(function (c, i) {
      var n = i + 1;
      var row = el('div', { className: 'check-row', 'data-index': String(i) });

      var typeField = el('p', { className: 'field' });
      var typeId = 'check-type-' + n;
      typeField.appendChild(el('label', { 'for': typeId }, t('check_type', { n: n })));
      var typeSel = el('select', { id: typeId, className: 'check-type' });
      CHECK_TYPES.forEach(function (ty) {
        var o = el('option', { value: ty }, t('type_' + ty));
        if (ty === c.type) o.selected = true;
        typeSel.appendChild(o);
      });
      typeSel.addEventListener('change', function () { checks[i].type = typeSel.value; saveMapping(); });
      typeField.appendChild(typeSel);

      var colField = el('p', { className: 'field' });
      var colId = 'check-column-' + n;
      colField.appendChild(el('label', { 'for': colId }, t('check_column', { n: n })));
      var colSel = el('select', { id: colId, className: 'check-column' });
      columnOptions(colSel, c.column);
      colSel.addEventListener('change', function () { checks[i].column = colSel.value; saveMapping(); });
      colField.appendChild(colSel);

      var remove = el('button', {
        type: 'button', id: 'check-remove-' + n, className: 'secondary remove-check',
        'aria-label': t('remove_check_label', { n: n })
      }, t('remove_check'));
      remove.addEventListener('click', function () {
        checks.splice(i, 1);
        renderChecks();
        var next = $('check-remove-' + Math.min(n, checks.length)) || $('add-check');
        next.focus();
        saveMapping();
      });

      row.appendChild(typeField);
      row.appendChild(colField);
      row.appendChild(remove);
      box.appendChild(row);
    });
    $('no-checks').hidden = checks.length > 0;
    $('add-check').disabled = !(current && current.columns && current.columns.length);
    if (activeId && $(activeId)) $(activeId).focus();
  }

  function addCheck() {
    var cols = (current && current.columns) || [];
    if (!cols.length) return;
    var used = checks.map(function (c) { return c.column; });
    var free = cols.filter(function (c) { return used.indexOf(c) < 0; });
    checks.push({ type: 'email', column: free.length ? free[0] : cols[0] });
    renderChecks();
    var n = checks.length;
    var sel = $('check-type-' + n);
    if (sel) sel.focus();
    saveMapping();
  }

  function mappingBody() {
    var country = $('default-country').value.trim();
    var header = $('header-row').value.trim();
    var sheet = $('sheet').value.trim();
    var headerNum = header === '' ? null : parseInt(header, 10);
    return {
      checks: checks.map(function (c) { return c.type + '=' + c.column; }),
      default_country: country === '' ? null : country,
      header_row: headerNum === null || isNaN(headerNum) ? null : headerNum,
      sheet: sheet === '' ? null : sheet
    };
  }

  function sameColumns(a, b) {
    a = a || []; b = b || [];
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  // Sends the mapping; the calls are chained so that Start always follows the last one.
  function checkStrings(list) {
    return (list || []).map(function (c) { return c.type + '=' + c.column; });
  }

  var saveSeq = 0;

  function saveMapping() {
    if (!current) return saving;
    var id = current.id;
    var body = mappingBody();
    var seq = ++saveSeq;
    $('plan').setAttribute('aria-busy', 'true');
    saving = saving.then(function () {
      if (!current || current.id !== id) return false;
      return api('POST', '/api/jobs/' + encodeURIComponent(id) + '/mapping', body).then(function (job) {
        if (!current || current.id !== id) return false;
        clearError();
        mappingOk = job.status !== 'failed';
        var columnsChanged = !sameColumns(current.columns, job.columns);
        current = job;
        upsertJob(job);
        renderMappingInfo(job);
        // The server's mapping is the one in use (with no check it guesses again): show it,
        // unless a later change is on its way.
        if (seq === saveSeq && (columnsChanged || !sameColumns(checkStrings(checks), checkStrings(job.checks)))) {
          checks = (job.checks || []).map(function (c) { return { type: c.type, column: c.column }; });
          renderChecks();
        }
        renderPlan(job);
        if (job.status === 'failed' && job.error) showError(job.error);
        return mappingOk;
      }, function (err) {
        mappingOk = false;
        showError(err.message);
        if (current && current.id === id && seq === saveSeq) {
          $('plan').textContent = '';
          $('plan').appendChild(el('p', null, t('plan_none')));
          $('start').disabled = true;
        }
        return false;
      });
    }).then(function (ok) {
      $('plan').removeAttribute('aria-busy');
      return ok;
    });
    return saving;
  }

  function renderPlan(job) {
    var box = $('plan');
    box.textContent = '';
    var p = job.plan;
    if (!p) {
      box.appendChild(el('p', null, t('plan_none')));
      $('start').disabled = true;
      return;
    }
    $('start').disabled = false;
    var dl = el('dl');
    function row(label, value, key) {
      dl.appendChild(el('dt', null, label));
      dl.appendChild(el('dd', { 'data-plan': key }, value));
    }
    row(t('plan_rows'), num(p.rows), 'rows');
    row(t('plan_checks'), num(p.checks), 'checks');
    if (p.invalid) row(t('plan_invalid'), num(p.invalid), 'invalid');
    row(t('plan_to_ask'), num(p.to_ask), 'to_ask');
    row(t('plan_from_store'), num(p.from_store), 'from_store');
    var timeText = duration(p.seconds);
    if (p.rate !== null && p.rate !== undefined) timeText = t('plan_time_value', { time: timeText, rate: num(p.rate) });
    row(t('plan_time'), timeText, 'seconds');
    var pending = p.would_leave_pending;
    row(t('plan_pending'), pending ? num(pending) : t('plan_pending_none'), 'would_leave_pending');
    box.appendChild(dl);
  }

  var starting = false;

  function start() {
    if (!current || starting) return;
    var id = current.id;
    starting = true;
    // Settle a pending field edit first (a change event fires on blur); a refused mapping
    // has already said why in the message area.
    saving.then(function (ok) {
      if (!ok || !current || current.id !== id) return null;
      return api('POST', '/api/jobs/' + encodeURIComponent(id) + '/start').then(function (job) {
        clearError();
        closeMapping();
        upsertJob(job);
        follow(job);
        var item = $('job-' + job.id);
        if (item) item.focus();
      });
    }).catch(function (err) {
      showError(err.message);
    }).then(function () {
      starting = false;
    });
  }

  function discard() {
    if (!current) return;
    var id = current.id;
    api('DELETE', '/api/jobs/' + encodeURIComponent(id)).then(function () {
      removeJob(id);
      closeMapping();
      $('dropzone').focus();
    }, function (err) { showError(err.message); });
  }

  function setupMapping() {
    $('add-check').addEventListener('click', addCheck);
    ['default-country', 'header-row', 'sheet'].forEach(function (id) {
      $(id).addEventListener('change', function () { saveMapping(); });
    });
    $('start').addEventListener('click', start);
    $('discard').addEventListener('click', discard);
  }

  // ---- Jobs -------------------------------------------------------------------------------------
  var jobs = {};      // id -> job
  var order = [];     // ids, newest first
  var streams = {};   // id -> EventSource
  var pollTimer = null;

  function sortOrder() {
    order.sort(function (a, b) {
      var ca = (jobs[a] && jobs[a].created) || '';
      var cb = (jobs[b] && jobs[b].created) || '';
      return ca < cb ? 1 : ca > cb ? -1 : 0;
    });
  }

  function upsertJob(job) {
    if (!job || !job.id) return;
    var old = jobs[job.id];
    jobs[job.id] = job;
    if (order.indexOf(job.id) < 0) {
      order.push(job.id);
      sortOrder();
    }
    renderJob(job);
    if (old && old.status !== job.status && (job.status === 'done' || job.status === 'failed' || job.status === 'cancelled')) {
      announce(t('announce_status', { name: job.name, status: t('status_' + job.status) }));
    }
    if (current && current.id === job.id && !(job.status === 'planned' || job.status === 'failed')) {
      closeMapping();
    }
  }

  function removeJob(id) {
    delete jobs[id];
    var i = order.indexOf(id);
    if (i >= 0) order.splice(i, 1);
    if (streams[id]) { streams[id].close(); delete streams[id]; }
    var item = $('job-' + id);
    if (item) item.parentNode.removeChild(item);
    $('no-jobs').hidden = order.length > 0;
    if (current && current.id === id) closeMapping();
  }

  function buildItem(job) {
    var li = el('li', { className: 'job', id: 'job-' + job.id, tabindex: '-1', 'data-id': job.id });
    var head = el('div', { className: 'job-head' });
    head.appendChild(el('h3', { className: 'job-name' }));
    head.appendChild(el('span', { className: 'status' }));
    head.appendChild(el('span', { className: 'job-created' }));
    li.appendChild(head);
    li.appendChild(el('progress', { className: 'job-progress', max: '1', value: '0' }));
    li.appendChild(el('p', { className: 'job-line job-done' }));
    li.appendChild(el('p', { className: 'job-line job-counts' }));
    li.appendChild(el('p', { className: 'job-line job-error' }));
    li.appendChild(el('p', { className: 'job-links' }));
    var actions = el('div', { className: 'job-actions' });
    var setup = el('button', { type: 'button', className: 'primary small job-setup' }, t('setup'));
    var cancel = el('button', { type: 'button', className: 'secondary small job-cancel' }, t('cancel'));
    var del = el('button', { type: 'button', className: 'danger small job-delete' }, t('delete'));
    setup.addEventListener('click', function () {
      var j = jobs[job.id];
      if (j) { clearError(); openMapping(j, true); }
    });
    cancel.addEventListener('click', function () { cancelJob(job.id); });
    del.addEventListener('click', function () { deleteJob(job.id); });
    actions.appendChild(setup);
    actions.appendChild(cancel);
    actions.appendChild(del);
    li.appendChild(actions);
    return li;
  }

  function link(href, text, cls, label) {
    return el('a', { href: href, className: cls, 'aria-label': label || null }, text);
  }

  function renderJob(job) {
    var list = $('jobs');
    var li = $('job-' + job.id);
    if (!li) {
      li = buildItem(job);
      // Newest first: insert before the next rendered item of the order.
      var before = null;
      for (var k = order.indexOf(job.id) + 1; k < order.length && !before; k++) {
        before = $('job-' + order[k]);
      }
      list.insertBefore(li, before);
    }
    $('no-jobs').hidden = true;
    var status = job.status || 'planned';
    li.setAttribute('data-status', status);
    var name = job.name || job.id;
    li.querySelector('.job-name').textContent = name;
    var badge = li.querySelector('.status');
    badge.className = 'status status-' + status;
    badge.textContent = t('status_' + status);
    var created = '';
    if (job.created) {
      var d = new Date(job.created);
      if (!isNaN(d.getTime())) created = t('created', { when: d.toLocaleString(lang) });
    }
    li.querySelector('.job-created').textContent = created;

    var pr = job.progress || { done: 0, total: 0, counts: {} };
    var done = Number(pr.done) || 0;
    var total = Number(pr.total) || 0;
    if (!total && job.plan) total = Number(job.plan.checks) || 0;
    li.setAttribute('data-done', String(done));
    li.setAttribute('data-total', String(total));
    var bar = li.querySelector('.job-progress');
    bar.max = total > 0 ? total : 1;
    bar.value = total > 0 ? Math.min(done, total) : (status === 'done' ? 1 : 0);
    bar.setAttribute('aria-label', t('progress_label', { name: name }));
    bar.hidden = status === 'planned' || (status === 'failed' && !done);

    var sum = job.summary;
    if (sum && typeof sum.checks === 'number') {
      // Finished: the summary's counts are the final ones (one result per check).
      var answered = Math.max(0, sum.checks - (Number(sum.pending) || 0));
      bar.max = sum.checks > 0 ? sum.checks : 1;
      bar.value = sum.checks > 0 ? answered : (status === 'done' ? 1 : 0);
      bar.hidden = false;
    }
    var doneText = '';
    if (sum && typeof sum.checks === 'number') {
      doneText = t('summary_text', { rows: num(Number(sum.rows) || 0), checks: num(sum.checks) });
    } else if (status === 'planned' && job.plan) {
      doneText = t('planned_text', { ask: num(Number(job.plan.to_ask) || 0), time: duration(job.plan.seconds) });
    } else if (status !== 'planned' && total > 0) {
      doneText = t('progress_text', { done: num(done), total: num(total) });
      if (ACTIVE[status] && pr.eta_seconds !== null && pr.eta_seconds !== undefined) {
        doneText += ' · ' + t('eta', { time: duration(pr.eta_seconds) });
      }
    }
    var doneLine = li.querySelector('.job-done');
    doneLine.textContent = doneText;
    doneLine.hidden = !doneText;

    var counts = pr.counts || {};
    if (sum && typeof sum.checks === 'number') {
      counts = {};
      COUNT_KEYS.forEach(function (k) { if (typeof sum[k] === 'number') counts[k] = sum[k]; });
    }
    var parts = [];
    var keys = COUNT_KEYS.slice();
    Object.keys(counts).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); });
    keys.forEach(function (k) {
      if (counts[k]) parts.push(t('count_' + k) + ' ' + num(counts[k]));
    });
    var countsLine = li.querySelector('.job-counts');
    countsLine.textContent = parts.join(' · ');
    countsLine.hidden = !parts.length;

    var errLine = li.querySelector('.job-error');
    errLine.textContent = job.error || '';
    errLine.hidden = !job.error;

    var links = li.querySelector('.job-links');
    links.textContent = '';
    if (job.downloads) {
      if (job.downloads.result) {
        links.appendChild(link(job.downloads.result, t('download_result'), 'download-result',
          t('download_result') + ' (' + name + ')'));
        var alt = isWorkbook(job.name) ? 'csv' : 'xlsx';
        links.appendChild(link(job.downloads.result + '?format=' + alt, t('download_as_' + alt), 'download-result-alt',
          t('download_result') + ' ' + t('download_as_' + alt) + ' (' + name + ')'));
      }
      if (job.downloads.changes) {
        links.appendChild(link(job.downloads.changes, t('download_changes'), 'download-changes',
          t('download_changes') + ' (' + name + ')'));
      }
    }
    links.hidden = !links.childNodes.length;

    var focused = document.activeElement;
    var setup = li.querySelector('.job-setup');
    var cancel = li.querySelector('.job-cancel');
    var del = li.querySelector('.job-delete');
    setup.hidden = !(status === 'planned' || (status === 'failed' && !done && !job.downloads));
    cancel.hidden = !ACTIVE[status];
    setup.setAttribute('aria-label', t('setup') + ': ' + name);
    cancel.setAttribute('aria-label', t('cancel') + ': ' + name);
    del.setAttribute('aria-label', t('delete') + ': ' + name);
    if ((focused === cancel && cancel.hidden) || (focused === setup && setup.hidden)) del.focus();
  }

  function renderAll(list) {
    var seen = {};
    list.forEach(function (j) { seen[j.id] = true; });
    order.slice().forEach(function (id) { if (!seen[id]) removeJob(id); });
    list.forEach(function (j) {
      jobs[j.id] = j;
      if (order.indexOf(j.id) < 0) order.push(j.id);
    });
    sortOrder();
    // Put the items in order, then fill them.
    var ul = $('jobs');
    order.forEach(function (id) {
      renderJob(jobs[id]);
      ul.appendChild($('job-' + id));
    });
    $('no-jobs').hidden = order.length > 0;
    order.forEach(function (id) { if (ACTIVE[jobs[id].status]) follow(jobs[id]); });
    schedulePoll();
  }

  function loadJobs() {
    return api('GET', '/api/jobs').then(function (r) {
      renderAll((r && r.jobs) || []);
    }, function (err) { showError(err.message); });
  }

  // Live progress: an EventSource per active job (at most MAX_STREAMS; the others are polled).
  function follow(job) {
    if (!job || !ACTIVE[job.status] || streams[job.id]) return;
    if (Object.keys(streams).length >= MAX_STREAMS || typeof EventSource === 'undefined') {
      schedulePoll();
      return;
    }
    var id = job.id;
    var es = new EventSource('/api/jobs/' + encodeURIComponent(id) + '/events');
    streams[id] = es;
    function update(e) {
      var j;
      try { j = JSON.parse(e.data); } catch (x) { return; }
      if (jobs[id]) upsertJob(j);
    }
    es.addEventListener('job', update);
    es.addEventListener('end', function (e) {
      update(e);
      es.close();
      delete streams[id];
      followWaiting();
    });
    es.addEventListener('error', function () {
      // Closed for good (the job is gone, or a 4xx): fall back to polling.
      if (es.readyState === 2) {
        delete streams[id];
        schedulePoll();
      }
    });
  }

  function followWaiting() {
    order.forEach(function (id) { if (jobs[id] && ACTIVE[jobs[id].status]) follow(jobs[id]); });
    schedulePoll();
  }

  function schedulePoll() {
    var unfollowed = order.some(function (id) { return jobs[id] && ACTIVE[jobs[id].status] && !streams[id]; });
    if (unfollowed && !pollTimer) {
      pollTimer = window.setTimeout(function () {
        pollTimer = null;
        loadJobs();
      }, 3000);
    }
  }

  function cancelJob(id) {
    api('POST', '/api/jobs/' + encodeURIComponent(id) + '/cancel').then(function (job) {
      clearError();
      if (job) upsertJob(job);
    }, function (err) { showError(err.message); });
  }

  function deleteJob(id) {
    var job = jobs[id];
    if (!window.confirm(t('confirm_delete', { name: job ? job.name : id }))) return;
    var item = $('job-' + id);
    var next = item && (item.nextElementSibling || item.previousElementSibling);
    api('DELETE', '/api/jobs/' + encodeURIComponent(id)).then(function () {
      clearError();
      removeJob(id);
      var target = next && next.querySelector('button:not([hidden])');
      (target || $('jobs-heading')).focus();
    }, function (err) { showError(err.message); });
  }

  // ---- Start -------------------------------------------------------------------------------------
  function init() {
    translatePage();
    $('jobs-heading').setAttribute('tabindex', '-1');
    $('message-close').addEventListener('click', clearError);
    setupUpload();
    setupMapping();
    loadJobs();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
