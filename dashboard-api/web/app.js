// Pulsebridge live alert board. Plain browser JavaScript, no build step, no third-party code.
// Flow: GET /v1/alerts (the current board + the event id it reflects), then the /v1/stream
// WebSocket resuming after that id; on any disconnect, reconnect with the last event id seen so
// nothing is missed. The server sends a heartbeat every few seconds: when it stops arriving the
// page says so loudly, because a silent board must mean "no alerts", never "no data".
'use strict';
(() => {
  const TOKEN_KEY = 'pulsebridge.token';
  const KIND_LABELS = {
    asystole: 'Asystole', pause: 'Pause', extreme_brady: 'Extreme bradycardia', brady: 'Bradycardia',
    extreme_tachy: 'Extreme tachycardia', tachy: 'Tachycardia', vt: 'Ventricular tachycardia',
    afib: 'Atrial fibrillation', signal_loss: 'Signal loss', lead_off: 'Lead off', low_battery: 'Low battery',
  };
  const PRIORITY_RANK = { high: 0, medium: 1, low: 2 };

  const $ = (id) => document.getElementById(id);
  const els = {
    connection: $('connection'), status: $('connection-status'), detail: $('connection-detail'),
    identity: $('identity'), signOut: $('sign-out'), signIn: $('sign-in'), tokenForm: $('token-form'),
    tokenInput: $('token-input'), signInError: $('sign-in-error'), rows: $('alert-rows'), empty: $('empty'),
    showResolved: $('show-resolved'), actionError: $('action-error'),
    countHigh: $('count-high'), countMedium: $('count-medium'), countLow: $('count-low'),
  };

  /** alert id → { alert, eventId (BigInt) } */
  const alerts = new Map();
  let token = '';
  let lastEventId; // string, or undefined before the first snapshot
  let ws;
  let connState = 'connecting';
  let connectedAt = 0;
  let lastMessageAt = 0;
  let heartbeatIntervalMs = 10000;
  let retryDelayMs = 1000;
  let retryAt = 0;
  let retryTimer;
  let generation = 0; // invalidates callbacks of replaced sockets
  let disconnectedReason = 'connection lost';

  // ---- token ------------------------------------------------------------------------------

  function readTokenFromUrl() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!m) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    // Keep the token out of the address bar, history and screenshots.
    history.replaceState(null, '', location.pathname + location.search);
  }

  /** Decodes the token's claims for display only; the server verifies it. */
  function claimsOf(jwt) {
    try {
      const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      return JSON.parse(decodeURIComponent(escape(atob(part))));
    } catch {
      return undefined;
    }
  }

  function showIdentity() {
    const c = claimsOf(token);
    if (!c) { els.identity.textContent = 'not signed in'; els.signOut.hidden = true; return; }
    const who = c.role === 'admin' ? 'all patients' : `patients: ${(c.patients || []).join(', ') || 'none'}`;
    els.identity.textContent = `${c.sub} · ${c.role} · ${who}`;
    els.signOut.hidden = false;
  }

  function useToken(value) {
    token = value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    els.signIn.hidden = true;
    els.signInError.textContent = '';
    showIdentity();
    alerts.clear();
    lastEventId = undefined;
    render();
    reconnectNow();
  }

  // ---- connection ---------------------------------------------------------------------------

  function setConnection(state, status, detail) {
    connState = state;
    els.connection.className = `connection state-${state}`;
    // While not live, the board shows the last known state: dim it so nobody takes it as current.
    document.body.classList.toggle('stale', state !== 'live' && alerts.size > 0);
    els.status.textContent = status;
    els.detail.textContent = detail || '';
    updateTitle();
  }

  function updateTitle() {
    const high = [...alerts.values()].filter((e) => e.alert.state === 'active' && e.alert.priority === 'high').length;
    const prefix = connState === 'live' ? (high ? `(${high} HIGH) ` : '') : connState === 'connecting' ? '… ' : '⚠ NOT CONNECTED — ';
    document.title = `${prefix}Pulsebridge`;
  }

  function authHeaders() {
    return { authorization: `Bearer ${token}` };
  }

  async function fetchSnapshot() {
    const res = await fetch('/v1/alerts', { headers: authHeaders() });
    if (res.status === 401) throw Object.assign(new Error('token rejected'), { unauthorized: true });
    if (!res.ok) throw new Error(`GET /v1/alerts: HTTP ${res.status}`);
    const body = await res.json();
    alerts.clear();
    for (const a of body.alerts) alerts.set(a.id, { alert: a, eventId: -1n });
    lastEventId = body.lastEventId;
    render();
  }

  async function connect() {
    const gen = ++generation;
    clearTimeout(retryTimer);
    if (!token) {
      setConnection('unauthorized', 'NOT SIGNED IN — no alerts are being received', 'Paste a token below.');
      els.signIn.hidden = false;
      return;
    }
    const claims = claimsOf(token);
    if (claims && typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) return unauthorized('Your token has expired.');
    setConnection('connecting', 'Connecting…', lastEventId === undefined ? 'loading alerts' : `resuming after event ${lastEventId}`);
    try {
      if (lastEventId === undefined) await fetchSnapshot();
    } catch (err) {
      if (gen !== generation) return;
      if (err.unauthorized) return unauthorized('The server rejected the token.');
      return scheduleReconnect(String(err.message || err));
    }
    if (gen !== generation) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ access_token: token, lastEventId });
    const socket = new WebSocket(`${proto}//${location.host}/v1/stream?${q}`);
    ws = socket;
    let greeted = false;
    socket.onmessage = (ev) => {
      if (gen !== generation) return;
      lastMessageAt = Date.now();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'hello') {
        greeted = true;
        connectedAt = Date.now();
        retryDelayMs = 1000;
        heartbeatIntervalMs = msg.heartbeatIntervalMs || heartbeatIntervalMs;
        setLive();
      } else if (msg.type === 'alert') {
        upsert(msg.alert, BigInt(msg.id));
        lastEventId = msg.id;
        render();
      } else if (msg.type === 'heartbeat') {
        if (msg.lastEventId && BigInt(msg.lastEventId) > BigInt(lastEventId)) lastEventId = msg.lastEventId;
        setLive();
      } else if (msg.type === 'gap') {
        // The server no longer holds every event we missed: reload the board, then resume.
        lastEventId = undefined;
        socket.close();
      }
    };
    socket.onclose = async (ev) => {
      if (gen !== generation) return;
      if (ev.code === 4401) return unauthorized('Your token expired while connected.');
      if (!greeted) {
        // The handshake failed; browsers hide the HTTP status, so ask the REST API why.
        try {
          const res = await fetch('/v1/alerts?limit=1', { headers: authHeaders() });
          if (res.status === 401) return unauthorized('The server rejected the token.');
        } catch { /* server unreachable: fall through */ }
      }
      scheduleReconnect(ev.reason || (greeted ? 'connection lost' : 'server unreachable'));
    };
  }

  function setLive() {
    const ago = Math.max(0, Math.round((Date.now() - lastMessageAt) / 1000));
    setConnection('live', 'LIVE — receiving alerts', `Last heartbeat ${ago} s ago. No alert shown means none is open.`);
  }

  function unauthorized(why) {
    generation++;
    if (ws) ws.close();
    setConnection('unauthorized', 'NOT SIGNED IN — no alerts are being received', why);
    els.signIn.hidden = false;
    els.signInError.textContent = why;
  }

  function scheduleReconnect(reason) {
    clearTimeout(retryTimer);
    retryAt = Date.now() + retryDelayMs;
    retryTimer = setTimeout(connect, retryDelayMs);
    retryDelayMs = Math.min(retryDelayMs * 2, 15000);
    showDisconnected(reason);
  }

  function showDisconnected(reason) {
    const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    setConnection('disconnected', 'NOT CONNECTED — alerts are NOT being received', `${reason}. Retrying in ${s} s.`);
    disconnectedReason = reason;
  }

  function reconnectNow() {
    generation++;
    if (ws) ws.close();
    retryDelayMs = 1000;
    connect();
  }

  // Watchdog: the server sends a heartbeat every heartbeatIntervalMs; missing 2½ of them means
  // the connection is dead even if the socket has not noticed (sleeping laptop, lost Wi-Fi).
  setInterval(() => {
    if (connState === 'live') {
      if (Date.now() - lastMessageAt > 2.5 * heartbeatIntervalMs) {
        generation++;
        if (ws) ws.close();
        scheduleReconnect('no heartbeat from the server');
      } else {
        setLive();
      }
    } else if (connState === 'disconnected') {
      showDisconnected(disconnectedReason);
    }
    renderTimes();
  }, 1000);

  // ---- alerts -------------------------------------------------------------------------------

  function upsert(alert, eventId) {
    const known = alerts.get(alert.id);
    if (known && known.eventId > eventId) return;
    alerts.set(alert.id, { alert, eventId });
  }

  function newestFirst(a, b) {
    return (Date.parse(b.detectedAt) - Date.parse(a.detectedAt)) || (Date.parse(b.onset) - Date.parse(a.onset)) || (a.id < b.id ? 1 : -1);
  }

  // Local time, unambiguous (no 3/1 vs 1/3): HH:MM:SS today, YYYY-MM-DD HH:MM:SS otherwise.
  function fmtTime(iso) {
    const d = new Date(iso);
    const p2 = (n) => String(n).padStart(2, '0');
    const time = `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
    if (d.toDateString() === new Date().toDateString()) return time;
    return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${time}`;
  }

  function fmtAgo(iso) {
    const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return `${Math.max(s, 0)} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function evidenceText(a) {
    const e = a.evidence || {};
    const parts = [];
    if (typeof e.hrBpm === 'number') parts.push(`${Math.round(e.hrBpm)} bpm`);
    if (typeof e.gapMs === 'number') parts.push(`gap ${(e.gapMs / 1000).toFixed(1)} s`);
    if (typeof e.beatCount === 'number') parts.push(`${e.beatCount} beats`);
    if (e.criterion) parts.push(e.criterion);
    return parts.join(' · ');
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props);
    for (const c of children) node.append(c);
    return node;
  }

  function render() {
    const all = [...alerts.values()].map((e) => e.alert);
    const open = all.filter((a) => a.state !== 'resolved');
    els.countHigh.textContent = open.filter((a) => a.priority === 'high').length;
    els.countMedium.textContent = open.filter((a) => a.priority === 'medium').length;
    els.countLow.textContent = open.filter((a) => a.priority === 'low').length;
    const shown = (els.showResolved.checked ? all : open).sort(newestFirst);
    const rows = shown.map((a) => {
      const tr = el('tr', { className: `priority-${a.priority} state-${a.state}` });
      tr.dataset.alertId = a.id;
      tr.dataset.state = a.state;
      const kind = el('div', { className: 'kind', textContent: KIND_LABELS[a.kind] || a.kind });
      const evidence = el('div', { className: 'evidence', textContent: `${a.category} · ${evidenceText(a)}` });
      const onset = el('td', {}, el('div', { textContent: fmtTime(a.onset) }), el('div', { className: 'sub ago', textContent: fmtAgo(a.onset) }));
      onset.querySelector('.ago').dataset.iso = a.onset;
      const state = el('td', {}, el('span', { className: `state-pill ${a.state}`, textContent: a.state }));
      const who = a.state === 'resolved' ? a.resolvedBy : a.state === 'acknowledged' ? a.acknowledgedBy : undefined;
      if (who) state.append(el('div', { className: 'sub', textContent: `by ${who}` }));
      const actions = el('td', { className: 'actions' });
      if (a.state === 'active') actions.append(actionButton('Acknowledge', 'ack', a));
      if (a.state !== 'resolved') actions.append(actionButton('Resolve', 'resolve', a));
      tr.append(
        el('td', {}, el('span', { className: `badge badge-${a.priority}`, textContent: a.priority })),
        el('td', {}, kind, evidence),
        el('td', {}, el('div', { textContent: a.patientId }), el('div', { className: 'sub', textContent: a.deviceId })),
        onset,
        el('td', { textContent: fmtTime(a.detectedAt) }),
        state,
        actions,
      );
      return tr;
    });
    els.rows.replaceChildren(...rows);
    els.empty.hidden = rows.length > 0;
    els.empty.textContent = connState === 'live' || alerts.size ? 'No open alerts for your patients.' : 'No data yet.';
    updateTitle();
  }

  function renderTimes() {
    for (const node of els.rows.querySelectorAll('.ago')) node.textContent = fmtAgo(node.dataset.iso);
  }

  function actionButton(label, action, alert) {
    const b = el('button', { type: 'button', className: action, textContent: label });
    b.addEventListener('click', async () => {
      b.disabled = true;
      els.actionError.textContent = '';
      try {
        const res = await fetch(`/v1/alerts/${encodeURIComponent(alert.id)}/${action}`, { method: 'POST', headers: authHeaders() });
        const body = await res.json().catch(() => ({}));
        if (res.status === 401) return unauthorized('The server rejected the token.');
        if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
        if (body.eventId) upsert(body.alert, BigInt(body.eventId));
        render();
      } catch (err) {
        els.actionError.textContent = `Could not ${action === 'ack' ? 'acknowledge' : 'resolve'} ${KIND_LABELS[alert.kind] || alert.kind} of ${alert.patientId}: ${err.message}`;
        b.disabled = false;
      }
    });
    return b;
  }

  // ---- start --------------------------------------------------------------------------------

  els.tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (els.tokenInput.value.trim()) useToken(els.tokenInput.value);
  });
  els.signOut.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    token = '';
    alerts.clear();
    lastEventId = undefined;
    render();
    showIdentity();
    unauthorized('Signed out.');
  });
  els.showResolved.addEventListener('change', render);
  window.addEventListener('hashchange', () => {
    readTokenFromUrl();
    const t = sessionStorage.getItem(TOKEN_KEY);
    if (t && t !== token) useToken(t);
  });

  readTokenFromUrl();
  token = sessionStorage.getItem(TOKEN_KEY) || '';
  showIdentity();
  render();
  connect();
})();
