// Pulsebridge central station. Plain browser JavaScript, no build step; charts by uPlot
// (charts.js), sound by Web Audio (alarm-sound.js).
//
// Flow: GET /v1/patients and /v1/alerts (the board + the event id it reflects), then the
// /v1/stream WebSocket (token in the first message, never in the URL) resuming after that id; the
// stream brings alerts, a heartbeat, and the patients' live telemetry once a second. On any
// disconnect, reconnect with the last event id seen so nothing is missed. A silent board must
// mean "no alarms", never "no data": a lost connection and a silent device both show loudly.
'use strict';
(() => {
  const TOKEN_KEY = 'pulsebridge.token';
  const REFRESH_KEY = 'pulsebridge.refresh';
  const PKCE_KEY = 'pulsebridge.pkce';
  /** GET /v1/auth/config: the development issuer (renewal by the API) or an OIDC issuer (PKCE login). */
  let authConfig = { kind: 'dev', renew: true };
  const KIND_LABELS = {
    asystole: 'Asystole', pause: 'Pause', extreme_brady: 'Extreme bradycardia', brady: 'Bradycardia',
    extreme_tachy: 'Extreme tachycardia', tachy: 'Tachycardia', vt: 'Ventricular tachycardia',
    afib: 'Atrial fibrillation', signal_loss: 'Signal loss', lead_off: 'Lead off', low_battery: 'Low battery',
  };
  const PRIORITY_RANK = { high: 0, medium: 1, low: 2 };
  /** Kinds that describe one episode together (an extreme brady is also a brady). */
  const FAMILY = { brady: 'brady', extreme_brady: 'brady', tachy: 'tachy', extreme_tachy: 'tachy', asystole: 'gap', pause: 'gap' };
  /** A patient without a frame for this long (or 2.5 frames, if longer) shows "no data". */
  const NO_DATA_MS = 5000;
  const AUDIO_PAUSE_MS = 2 * 60 * 1000;

  const $ = (id) => document.getElementById(id);
  // Every time on the page is this browser's local time: say which (a station may sit in another zone than the patients).
  {
    const offsetMin = -new Date().getTimezoneOffset();
    const p2 = (n) => String(Math.floor(Math.abs(n))).padStart(2, '0');
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
    $('timezone').textContent = `times: ${zone} (UTC${offsetMin < 0 ? '−' : '+'}${p2(offsetMin / 60)}:${p2(offsetMin % 60)})`;
  }
  const els = {
    connection: $('connection'), status: $('connection-status'), detail: $('connection-detail'),
    analysis: $('analysis'), analysisDetail: $('analysis-detail'),
    identity: $('identity'), signOut: $('sign-out'), signIn: $('sign-in'), tokenForm: $('token-form'),
    tokenInput: $('token-input'), signInError: $('sign-in-error'), board: $('board'), empty: $('empty'),
    actionError: $('action-error'), staleNote: $('stale-note'), announcer: $('announcer'),
    countHigh: $('count-high'), countMedium: $('count-medium'), countLow: $('count-low'), countAcknowledged: $('count-acknowledged'),
    soundEnable: $('sound-enable'), audioPause: $('audio-pause'), audioStatus: $('audio-status'),
    boardView: $('board-view'), detailView: $('detail-view'), detailTitle: $('detail-title'), detailSub: $('detail-sub'),
    detailNow: $('detail-now'), detailDenied: $('detail-denied'), detailBody: $('detail-body'), trend: $('trend'), trendNote: $('trend-note'), ecg: $('ecg'), ecgCaption: $('ecg-caption'),
    historyRows: $('history-rows'), liveEcg: $('live-ecg'), liveEcgNote: $('live-ecg-note'), criteriaForm: $('criteria-form'), criteriaNote: $('criteria-note'),
    resolveDialog: $('resolve-dialog'), resolveForm: $('resolve-form'), resolveWhat: $('resolve-what'),
    resolveOther: $('resolve-other'), resolveError: $('resolve-error'), resolveCancel: $('resolve-cancel'),
  };
  const sound = window.PbAlarmSound;
  const charts = window.PbCharts;

  /** alert id → { alert, eventId (BigInt) } */
  const alerts = new Map();
  /** patient id → { id, displayName, mrn, devices } */
  const patients = new Map();
  /** patient id → live state from the stream (live-vitals.ts) */
  const live = new Map();
  /** Server clock minus ours, ms (the live states carry the server's arrival time). */
  let serverOffsetMs = 0;
  let token = '';
  let lastEventId;
  let ws;
  let connState = 'connecting';
  /** Since when no processor evaluates alarms (the API's `processor_silent` operator alarm), or undefined. */
  let analysisStoppedSinceMs;
  let lastMessageAt = 0;
  let heartbeatIntervalMs = 2000;
  let retryDelayMs = 1000;
  let retryAt = 0;
  let retryTimer;
  let renewTimer;
  let generation = 0;
  let disconnectedReason = 'connection lost';
  let snapshotLoaded = false;
  const announced = new Set();
  /** Test and diagnostics hook: renewals done, the board's order, render cost. */
  const stats = { renewals: 0, tokenExpiresAtMs: 0, order: [], renders: 0, renderMs: 0, maxRenderMs: 0 };
  window.__pbBoard = stats;

  // ---- token ------------------------------------------------------------------------------

  function readTokenFromUrl() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!m) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    // Keep the token out of the address bar, history and screenshots.
    history.replaceState(null, '', location.pathname + location.search);
  }

  /** Decodes the token's claims for display and renewal timing only; the server verifies it. */
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
    clearBoard();
    reconnectNow();
  }

  /** Forgets what the previous user saw (sign-in as someone else, sign-out). */
  function clearBoard() {
    alerts.clear();
    patients.clear();
    live.clear();
    lastEventId = undefined;
    snapshotLoaded = false;
    render();
  }

  /**
   * Sessions that last a shift: renew at three quarters of the token's life (at most 5 min
   * before expiry), then hand the new token to the open stream so it is not closed at expiry.
   */
  function scheduleRenewal() {
    clearTimeout(renewTimer);
    const c = claimsOf(token);
    if (!c || typeof c.exp !== 'number' || typeof c.iat !== 'number') return;
    const lifeMs = (c.exp - c.iat) * 1000;
    const renewAtMs = c.exp * 1000 - Math.min(lifeMs / 4, 5 * 60 * 1000);
    stats.tokenExpiresAtMs = c.exp * 1000;
    renewTimer = setTimeout(renew, Math.max(0, renewAtMs - Date.now()));
  }

  const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const redirectUri = () => `${location.origin}/`;

  async function loadAuthConfig() {
    try {
      const res = await fetch('/v1/auth/config');
      if (res.ok) authConfig = await res.json();
    } catch { /* server unreachable: the connection banner says so */ }
    const b = $('oidc-sign-in');
    b.hidden = authConfig.kind !== 'oidc';
    if (authConfig.kind === 'oidc') b.textContent = `Sign in with ${new URL(authConfig.issuer).host}`;
  }

  /** Authorization Code with PKCE (RFC 7636, S256): off to the issuer, back with ?code=&state=. */
  async function startLogin() {
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
    const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
    sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
    const q = new URLSearchParams({ response_type: 'code', client_id: authConfig.clientId, redirect_uri: redirectUri(), scope: authConfig.scope, state, code_challenge: challenge, code_challenge_method: 'S256' });
    location.assign(`${authConfig.authorizationEndpoint}?${q}`);
  }

  async function tokenRequest(form) {
    const res = await fetch(authConfig.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: authConfig.clientId, ...form }) });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || typeof body.access_token !== 'string') throw Object.assign(new Error(body.error_description || body.error || `HTTP ${res.status}`), { status: res.status });
    if (typeof body.refresh_token === 'string') sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
    return body.access_token;
  }

  /** Back from the issuer: check the state, trade the code (with the verifier) for tokens. */
  async function finishLogin() {
    const params = new URLSearchParams(location.search);
    const code = params.get('code');
    if (!code && !params.get('error')) return;
    history.replaceState(null, '', location.pathname + location.hash);
    const pkce = JSON.parse(sessionStorage.getItem(PKCE_KEY) || 'null');
    sessionStorage.removeItem(PKCE_KEY);
    if (!code || !pkce || pkce.state !== params.get('state') || authConfig.kind !== 'oidc') {
      els.signInError.textContent = `Sign-in failed: ${params.get('error_description') || params.get('error') || 'the answer does not belong to this sign-in'}.`;
      return;
    }
    try {
      sessionStorage.setItem(TOKEN_KEY, await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: redirectUri(), code_verifier: pkce.verifier }));
    } catch (err) {
      els.signInError.textContent = `Sign-in failed: ${err.message}.`;
    }
  }

  async function renew() {
    if (authConfig.kind === 'oidc') return renewAtIssuer();
    try {
      const res = await fetch('/v1/session/renew', { method: 'POST', headers: authHeaders() });
      if (res.status === 404) return; // an external issuer: renewal is its job
      if (res.status === 401) return unauthorized('Your session ended; sign in again.');
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = await res.json();
      token = body.token;
      sessionStorage.setItem(TOKEN_KEY, token);
      stats.renewals++;
      showIdentity();
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'auth', token }));
      scheduleRenewal();
    } catch {
      // Offline for a moment: try again soon (the token is still valid for a while).
      clearTimeout(renewTimer);
      renewTimer = setTimeout(renew, 5000);
    }
  }

  /** With an OIDC issuer: the refresh token (offline_access) buys a new access token. */
  async function renewAtIssuer() {
    const refresh = sessionStorage.getItem(REFRESH_KEY);
    if (!refresh) return; // the stream closes at expiry and the page asks to sign in again
    try {
      token = await tokenRequest({ grant_type: 'refresh_token', refresh_token: refresh });
    } catch (err) {
      if (err.status === 400 || err.status === 401) return unauthorized('Your session at the identity provider ended; sign in again.');
      clearTimeout(renewTimer);
      renewTimer = setTimeout(renew, 5000);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    stats.renewals++;
    showIdentity();
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'auth', token }));
    scheduleRenewal();
  }

  // ---- connection ---------------------------------------------------------------------------

  function setConnection(state, status, detail) {
    const changed = connState !== state;
    connState = state;
    els.connection.className = `connection state-${state}${state === 'live' && analysisStoppedSinceMs !== undefined ? ' analysis-stopped' : ''}`;
    // While not live, the board shows the last known state: dim it so nobody takes it as current.
    const stale = state !== 'live' && snapshotLoaded;
    document.body.classList.toggle('stale', stale);
    els.staleNote.hidden = !stale;
    if (els.status.textContent !== status) els.status.textContent = status;
    els.detail.textContent = detail || '';
    if (changed) updateActionsEnabled();
    updateTitle();
  }

  /** Actions reach the server only while connected: otherwise they are disabled, visibly. */
  function updateActionsEnabled() {
    const off = connState !== 'live';
    for (const b of document.querySelectorAll('[data-needs-live]')) b.disabled = off || b.dataset.busy === '1';
  }

  function updateTitle() {
    const high = [...alerts.values()].filter((e) => e.alert.state === 'active' && e.alert.priority === 'high').length;
    const prefix = connState !== 'live' ? (connState === 'connecting' ? '… ' : '⚠ NOT CONNECTED — ')
      : analysisStoppedSinceMs !== undefined ? '⚠ NO ALARM ANALYSIS — ' : high ? `(${high} HIGH) ` : '';
    document.title = `${prefix}Pulsebridge`;
  }

  // ---- alarm analysis ----------------------------------------------------------------------
  const ANALYSIS_POLL_MS = 5000;

  /**
   * Asks /healthz (no token) whether a processor evaluates alarms. The stream carries alerts, not
   * their absence: with every processor down the tiles' heart rates (straight from telemetry) keep
   * moving and no alarm can come, so the board must say so in the alarm colour.
   */
  async function checkAnalysis() {
    let stopped;
    try {
      const res = await fetch('/healthz', { cache: 'no-store' });
      const body = await res.json();
      stopped = (body.operatorAlarms || []).find((a) => a.kind === 'processor_silent' && a.state === 'active');
    } catch {
      return; // server unreachable: the connection banner says so
    }
    const was = analysisStoppedSinceMs;
    analysisStoppedSinceMs = stopped ? stopped.sinceMs : undefined;
    els.analysis.hidden = !stopped;
    if (connState === 'live' && was !== analysisStoppedSinceMs) setLive();
    if (stopped) els.analysisDetail.textContent = `No alarm analysis has reported since ${fmtTime(stopped.sinceMs)}: watch the patients' monitors directly. Operators are alarmed.`;
    updateTitle();
  }
  setInterval(() => { void checkAnalysis(); }, ANALYSIS_POLL_MS);
  void checkAnalysis();

  function authHeaders(extra) {
    return { authorization: `Bearer ${token}`, ...extra };
  }

  async function api(path, init) {
    const res = await fetch(path, { ...init, headers: authHeaders(init && init.headers) });
    if (res.status === 401) throw Object.assign(new Error('token rejected'), { unauthorized: true });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw Object.assign(new Error(body.error ? body.error.message : `HTTP ${res.status}`), { status: res.status });
    return body;
  }

  async function fetchSnapshot() {
    const [p, a] = await Promise.all([api('/v1/patients'), api('/v1/alerts')]);
    patients.clear();
    for (const x of p.patients) patients.set(x.id, x);
    alerts.clear();
    for (const x of a.alerts) {
      alerts.set(x.id, { alert: x, eventId: -1n });
      announced.add(x.id); // only alarms that arrive live are announced
    }
    lastEventId = a.lastEventId;
    snapshotLoaded = true;
    render();
  }

  async function connect() {
    const gen = ++generation;
    clearTimeout(retryTimer);
    if (!token) {
      setConnection('unauthorized', 'NOT SIGNED IN — no alarms are being received', 'Paste a token below.');
      els.signIn.hidden = false;
      return;
    }
    const claims = claimsOf(token);
    if (claims && typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) return unauthorized('Your token has expired.');
    scheduleRenewal();
    setConnection('connecting', 'Connecting…', lastEventId === undefined ? 'loading the board' : `resuming after event ${lastEventId}`);
    try {
      if (lastEventId === undefined) await fetchSnapshot();
    } catch (err) {
      if (gen !== generation) return;
      if (err.unauthorized) return unauthorized('The server rejected the token.');
      return scheduleReconnect(String(err.message || err));
    }
    if (gen !== generation) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // The token goes in the first message, not the URL (URLs end up in logs).
    const socket = new WebSocket(`${proto}//${location.host}/v1/stream?${new URLSearchParams({ lastEventId })}`, ['pulsebridge.v1']);
    ws = socket;
    let greeted = false;
    socket.onopen = () => socket.send(JSON.stringify({ type: 'auth', token }));
    socket.onmessage = (ev) => {
      if (gen !== generation) return;
      lastMessageAt = Date.now();
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === 'hello') {
        greeted = true;
        retryDelayMs = 1000;
        heartbeatIntervalMs = msg.heartbeatIntervalMs || heartbeatIntervalMs;
        setLive();
        if (detail.patientId) watchEcg(detail.patientId);
      } else if (msg.type === 'alert') {
        upsert(msg.alert, BigInt(msg.id));
        lastEventId = msg.id;
        renderSoon();
      } else if (msg.type === 'vitals') {
        serverOffsetMs = msg.serverNowMs - Date.now();
        for (const p of msg.patients) {
          const known = live.get(p.patientId);
          const hrHistory = p.hrHistory || (known ? known.hrHistory : []);
          if (!p.hrHistory && shownHr(p) !== null && (!hrHistory.length || hrHistory[hrHistory.length - 1][0] < p.deviceTimeMs)) {
            hrHistory.push([p.deviceTimeMs, shownHr(p)]);
            if (hrHistory.length > 300) hrHistory.splice(0, hrHistory.length - 300);
          }
          live.set(p.patientId, { ...p, hrHistory });
          dirtyTiles.add(p.patientId);
        }
        renderTilesSoon();
      } else if (msg.type === 'ecg') {
        if (msg.patientId === detail.patientId && detail.liveEcg) {
          const n = detail.liveEcg.push(msg);
          els.liveEcg.dataset.samples = String(n);
          setText(els.liveEcgNote, `${msg.deviceId} · ${msg.fs} Hz · newest sample at ${fmtTime(msg.ts + msg.uV.length * 1000 / msg.fs)} (device time)${msg.leadOff ? ' · LEAD OFF' : ''}`);
        }
      } else if (msg.type === 'heartbeat') {
        if (msg.lastEventId && BigInt(msg.lastEventId) > BigInt(lastEventId)) lastEventId = msg.lastEventId;
        setLive();
      } else if (msg.type === 'error') {
        // A refused request; the page only watches its own patients, so this is the server unable
        // to audit the watch (no waveform without an audit entry): say so where the waveform would be.
        if (msg.request === 'watch' && msg.patientId === detail.patientId && msg.error) setText(els.liveEcgNote, `Live ECG not available: ${msg.error.message}`);
      } else if (msg.type === 'gap') {
        // The server no longer holds every event we missed: reload the board, then resume.
        lastEventId = undefined;
        socket.close();
      }
    };
    socket.onclose = async (ev) => {
      if (gen !== generation) return;
      if (ev.code === 4401) return unauthorized(greeted ? 'Your token expired while connected.' : 'The server rejected the token.');
      if (!greeted) {
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
    // Connected is not "receiving alarms" while no processor evaluates them (the banner above says
    // why): the hardened walk (session 33) saw the green line claim it right above the red banner.
    if (analysisStoppedSinceMs !== undefined) {
      setConnection('live', 'CONNECTED — patient data only, no alarm can arrive', `Last message ${ago} s ago. No alarm shown does NOT mean none: see the banner above.`);
    } else {
      setConnection('live', 'LIVE — receiving alarms and patient data', `Last message ${ago} s ago. No alarm shown means none is open.`);
    }
  }

  function unauthorized(why) {
    generation++;
    clearTimeout(renewTimer);
    if (ws) ws.close();
    setConnection('unauthorized', 'NOT SIGNED IN — no alarms are being received', why);
    els.signIn.hidden = false;
    els.signInError.textContent = why;
    sound.set(null);
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
    setConnection('disconnected', 'NOT CONNECTED — alarms are NOT being received', `${reason}. Retrying in ${s} s.`);
    disconnectedReason = reason;
  }

  function reconnectNow() {
    generation++;
    if (ws) ws.close();
    retryDelayMs = 1000;
    connect();
  }

  // Watchdog: missing 2½ heartbeats means the connection is dead even if the socket has not noticed.
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
    render();
  }, 1000);

  // ---- alarms -------------------------------------------------------------------------------

  function upsert(alert, eventId) {
    const known = alerts.get(alert.id);
    if (known && known.eventId > eventId) return;
    alerts.set(alert.id, { alert, eventId });
    if (!announced.has(alert.id)) {
      announced.add(alert.id);
      if (alert.state === 'active') onNewAlarm(alert);
    }
  }

  /** A new alarm: announce a high one once, and end an audio pause if it is at least as urgent. */
  function onNewAlarm(a) {
    const p = patients.get(a.patientId);
    if (a.priority === 'high') els.announcer.textContent = `High priority alarm: ${KIND_LABELS[a.kind] || a.kind}, ${p ? p.displayName : a.patientId}.`;
    const st = sound.state;
    if (st.paused && (st.wanted === null || PRIORITY_RANK[a.priority] <= PRIORITY_RANK[st.wanted])) sound.resume();
  }

  /**
   * Unacknowledged first, then priority, then a condition that goes on before one that ended, then
   * the oldest (the longest unattended) — of ended ones the newest.
   */
  const byUrgency = (a, b) => ((a.state === 'active' ? 0 : 1) - (b.state === 'active' ? 0 : 1)) || (PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority])
    || ((a.end ? 1 : 0) - (b.end ? 1 : 0)) || (a.end ? Date.parse(b.onset) - Date.parse(a.onset) : Date.parse(a.onset) - Date.parse(b.onset));

  /**
   * Open alarms of a patient grouped by episode: same family (brady + extreme brady …) with
   * overlapping time, most urgent first; each group is led by its most urgent alarm.
   */
  function groupsOf(list) {
    const groups = [];
    for (const a of [...list].sort(byUrgency)) {
      const fam = FAMILY[a.kind];
      const start = Date.parse(a.onset);
      const g = fam && groups.find((x) => x.family === fam && start <= x.endMs + 60000 && (a.end ? Date.parse(a.end) : Infinity) >= x.startMs - 60000);
      if (g) {
        g.alerts.push(a);
        g.startMs = Math.min(g.startMs, start);
        g.endMs = Math.max(g.endMs, a.end ? Date.parse(a.end) : Date.now());
      } else {
        groups.push({ family: fam, lead: a, alerts: [a], startMs: start, endMs: a.end ? Date.parse(a.end) : Date.now() });
      }
    }
    return groups;
  }

  /**
   * An alarm that still calls for attention by sound and flashing: unacknowledged, and either its
   * condition goes on or it is high priority. A latched medium alarm whose condition ended (an AF
   * waiting for review) stays on the board and in the history with "ended, needs review", steady,
   * without tone or flashing: there is nothing left to do at the bedside, and a tone that goes on
   * for an episode that is over is the alarm fatigue the defaults fight (Dräger Infinity IFU,
   * "Latching and non-latching alarm behaviour": a latched medium-priority condition is downgraded
   * to a status message, no flashing, no audible signal; high-priority latched conditions keep the
   * standard signals — as here, until acknowledged).
   */
  function signalling(a) {
    return a.state === 'active' && (!a.end || a.priority === 'high');
  }

  function soundForAlarms() {
    let best = null;
    for (const { alert: a } of alerts.values()) {
      if (!signalling(a)) continue;
      if (best === null || PRIORITY_RANK[a.priority] < PRIORITY_RANK[best]) best = a.priority;
    }
    sound.set(connState === 'unauthorized' ? null : best);
  }

  // ---- formatting ---------------------------------------------------------------------------

  function fmtTime(ms) {
    const d = new Date(ms);
    const p2 = (n) => String(n).padStart(2, '0');
    const time = `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
    if (d.toDateString() === new Date().toDateString()) return time;
    return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${time}`;
  }

  function fmtAgo(ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    // Onsets are device time: a device clock ahead of this station's puts them in the future.
    if (s < -2) return `${fmtDuration(-s * 1000)} ahead of this clock (device clock)`;
    if (s < 60) return `${Math.max(s, 0)} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function fmtDuration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 120 ? `${s} s` : s < 7200 ? `${Math.floor(s / 60)} min` : `${Math.floor(s / 3600)} h`;
  }

  /** A measured length as a clinician reads it: 2.5 s, 42 s, 6 min 46 s, 2 h 5 min. */
  function fmtLength(ms) {
    const s = Math.max(0, ms / 1000);
    if (s < 10) return `${s.toFixed(1)} s`;
    if (s < 120) return `${Math.round(s)} s`;
    const whole = Math.round(s);
    if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
    return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
  }

  /**
   * An ended alarm still waiting for a clinician: a high-priority one to be acknowledged, an AF
   * (medium, latched until reviewed: alarm-lifecycle.ts latchingKinds) to be reviewed.
   */
  function endedTag(a) {
    return a.priority === 'high' ? 'ended, needs ack' : 'ended, needs review';
  }

  /**
   * Who closed an alarm, in words: the processor closes an alarm whose condition ended on its own
   * (resolvedBy "pulsebridge-processor", the API's value), which "resolved by
   * pulsebridge-processor" made read as if someone had dealt with it (cardiologist walk); the
   * lifecycle's own reason (an end estimated after a restart, the alarm switched off) is its
   * evidence note. The same words as the EHR note (ehr-exporter/bundle.ts selfEndedText).
   */
  function resolvedText(a) {
    if (a.resolvedBy !== 'pulsebridge-processor') {
      return `resolved by ${a.resolvedBy} at ${fmtTime(Date.parse(a.resolvedAt))}${a.resolveReason ? ` — “${a.resolveReason}”` : ''}`;
    }
    const at = fmtTime(Date.parse(a.end || a.resolvedAt));
    const endNote = a.evidence && a.evidence.endNote ? ` (${a.evidence.endNote})` : '';
    const what = a.evidence && a.evidence.note ? `closed by Pulsebridge at ${at}: ${a.evidence.note}` : `ended on its own at ${at}${endNote}`;
    return a.acknowledgedBy ? what : `${what} (not reviewed)`;
  }

  /**
   * The alarm's evidence as a clinician says it (cardiologist walk #9: the board showed the
   * detector's criterion — "VF-filter leakage 0.59 < 0.65 … fhir-and-alarms.md §5", "issue 4"):
   * one sentence per kind from the evidence fields (contracts/alert.ts AlertEvidence), beside the
   * kind's name — "7 ventricular beats at 168/min over 2.1 s" (a VT's run: its V beats, the rate
   * from the V–V intervals inside it, first to last beat), "3.2 s without a beat", "152/min, above
   * 140/min for 17 beats", "irregular rhythm at 118/min for 45 s, no P waves". The criterion
   * itself, with its sources, stays reachable: {@link criterionDetail}. Empty when the evidence
   * holds nothing to say. The processor's evidence contract is untouched: the few things that are
   * only in the criterion text (which VT rule fired, what the ECG said about P waves, which
   * signal loss) are read from it, and an unknown text just adds nothing.
   */
  function evidenceText(a) {
    const sentence = evidenceSentence(a);
    // What the rhythm did when the condition ended (evidence `endNote`, e.g. an AF ending into a
    // fast regular rhythm: "irregularity ended, rate 149/min regular — consider atrial flutter",
    // cardiologist walk #3): said on the tile and in the history, as in the EHR note.
    const endNote = a.end && a.evidence && typeof a.evidence.endNote === 'string' ? a.evidence.endNote : '';
    return endNote ? (sentence ? `${sentence}; ${endNote}` : endNote) : sentence;
  }

  function evidenceSentence(a) {
    const e = a.evidence || {};
    const th = e.thresholds || {};
    const criterion = typeof e.criterion === 'string' ? e.criterion : '';
    const num = (x) => typeof x === 'number' && Number.isFinite(x) && x > 0;
    const rate = num(e.hrBpm) ? `${Math.round(e.hrBpm)}/min` : null;
    const beats = (n) => `${n} beat${n === 1 ? '' : 's'}`;
    // How long a condition has held: its duration so far when known, else the alarm delay it needed, else its beats.
    const lasting = () => (num(e.durationMs) ? ` for ${fmtLength(e.durationMs)}` : num(th.sustainMs) ? ` for ≥ ${fmtLength(th.sustainMs)}` : num(e.beatCount) ? ` for ${beats(e.beatCount)}` : '');
    const beyond = (word, limit) => (rate ? `${rate}${num(limit) ? `, ${word} ${limit}/min` : ''}${lasting()}` : '');
    switch (a.kind) {
      case 'vt': {
        const waveform = criterion.startsWith('VF-filter');
        if (!num(e.beatCount)) return waveform ? 'VT/VF-like waveform on the ECG, no ventricular beats counted: check the strip' : '';
        const n = e.beatCount;
        const len = num(e.runMs) && n > 1 ? ` over ${fmtLength(e.runMs)}` : '';
        return `${n} ventricular beat${n === 1 ? '' : 's'}${rate ? ` at ${rate}` : ''}${len}`;
      }
      case 'asystole':
        return num(e.gapMs) ? `no beat for ${fmtLength(e.gapMs)}` : '';
      case 'pause':
        return num(e.gapMs) ? `${fmtLength(e.gapMs)} without a beat` : '';
      case 'extreme_brady':
        return beyond('below', th.hrBelowBpm);
      case 'brady':
        return beyond('below', th.limitBpm);
      case 'extreme_tachy':
        return beyond('above', th.hrAboveBpm);
      case 'tachy':
        return beyond('above', th.limitBpm);
      case 'afib': {
        // processor/detectors/afib.ts #atrialText: what the ECG said about the atria, if it was read.
        const atria = criterion.includes('no consistent P wave') ? ', no P waves'
          : criterion.includes('f waves in the TQ') ? ', fibrillatory waves'
          : criterion.includes('RR intervals only') ? ', from beat intervals only (no ECG)' : '';
        const held = num(e.durationMs) ? ` for ${fmtLength(e.durationMs)}` : num(th.minEpisodeMs) ? ` for ≥ ${fmtLength(th.minEpisodeMs)}` : '';
        return `irregular rhythm${rate ? ` at ${rate}` : ''}${held}${atria}`;
      }
      case 'signal_loss':
        if (criterion.startsWith('no telemetry')) return `no data from the device${num(th.silenceMs) ? ` for ≥ ${fmtLength(th.silenceMs)}` : ''}: rhythm not monitored`;
        if (criterion.startsWith('frames without ECG')) return 'the device sends neither ECG nor beats: rhythm not monitored';
        if (criterion.startsWith('new frames')) return 'the device clock went back: its data are stored, not analysed; rhythm not monitored';
        return 'rhythm not monitored';
      case 'lead_off':
        return `electrodes off${num(e.durationMs) ? ` for ${fmtLength(e.durationMs)}` : num(th.minDurationMs) ? ` for ≥ ${fmtLength(th.minDurationMs)}` : ''}`;
      case 'low_battery':
        return typeof e.batteryPct === 'number' ? `battery ${e.batteryPct} %${num(th.belowPct) ? ` (alarm below ${th.belowPct} %)` : ''}` : '';
      default:
        return '';
    }
  }

  /**
   * The detector's criterion as it fired — its text with sources and its thresholds — for the
   * engineer and the audit (evidenceText is what the clinician reads): the alarm row's tooltip
   * and the history's collapsed "criterion" detail.
   */
  function criterionDetail(a) {
    const e = a.evidence || {};
    const th = Object.entries(e.thresholds || {}).map(([k, v]) => `${k} ${v}`).join(', ');
    return [typeof e.criterion === 'string' ? `Criterion: ${e.criterion}` : '', th ? `Thresholds: ${th}` : ''].filter(Boolean).join('\n');
  }

  /** Kinds in a group of alarms, with counts: "Extreme tachycardia ×2", "Bradycardia". */
  function kindCounts(alerts) {
    const counts = new Map();
    for (const x of alerts) counts.set(x.kind, (counts.get(x.kind) || 0) + 1);
    return counts;
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (k === 'dataset') Object.assign(node.dataset, v);
        else if (k.startsWith('aria-') || k === 'role') node.setAttribute(k, v);
        else node[k] = v;
      }
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function patientName(id) {
    const p = patients.get(id);
    return p ? p.displayName : id;
  }

  /** Age of the patient's newest frame at this server, ms; undefined when none arrived since the page connected. */
  /**
   * The heart rate the board shows: the averaged one (hrAvgBpm, dashboard-api/live-vitals.ts: the
   * monitor's mean of the last 12 RR intervals without the longest and shortest, falling at once
   * in a silence; cardiologist walk #7: the beat-to-beat rate flipped 61 ↔ 136 in bigeminy); from
   * an API that does not send it yet, the beat-to-beat hrBpm.
   */
  function shownHr(l) {
    return l.hrAvgBpm === undefined ? l.hrBpm : l.hrAvgBpm;
  }
  const HR_AVERAGING = 'Averaged heart rate: the mean of the last 12 beat-to-beat intervals without the longest and the shortest (of the last 4 when the heart slows below 50/min); when beats stop it falls at once (60 / seconds since the last beat).';

  function dataAgeMs(l) {
    return l ? Date.now() + serverOffsetMs - l.receivedAtMs : undefined;
  }

  function noDataFor(l) {
    if (!l) return true;
    return dataAgeMs(l) > Math.max(NO_DATA_MS, 2.5 * (l.frameMs || 1000));
  }

  // ---- board --------------------------------------------------------------------------------

  /** patient id → { root, parts…, spark } */
  const tiles = new Map();
  let renderQueued = false;

  function renderSoon() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => { renderQueued = false; dirtyTiles.clear(); render(); });
  }

  /**
   * Live telemetry changes only its patients' tiles: update those (and the order, which "no
   * data" may change) in the next frame, not the whole board (100 tiles at 1 frame/s each).
   */
  const dirtyTiles = new Set();
  let tilesQueued = false;
  function renderTilesSoon() {
    if (tilesQueued) return;
    tilesQueued = true;
    requestAnimationFrame(() => {
      tilesQueued = false;
      if (renderQueued || dirtyTiles.size === 0) return;
      timed(() => {
        const open = openAlertsByPatient();
        for (const id of dirtyTiles) if (patients.has(id)) updateTile(id, open.get(id) || [], live.get(id));
        dirtyTiles.clear();
        if (currentView.name === 'patient') renderDetail(open);
      });
    });
  }

  function openAlertsByPatient() {
    const out = new Map();
    for (const { alert: a } of alerts.values()) {
      if (a.state === 'resolved') continue;
      let list = out.get(a.patientId);
      if (!list) out.set(a.patientId, (list = []));
      list.push(a);
    }
    return out;
  }

  /** Times the board's own work (bench/board-frames.ts reports it next to the frame times). */
  function timed(fn) {
    const t = performance.now();
    try { fn(); } finally {
      const ms = performance.now() - t;
      stats.renderMs += ms;
      if (ms > stats.maxRenderMs) stats.maxRenderMs = ms;
    }
  }

  function render() {
    timed(renderNow);
  }

  function renderNow() {
    stats.renders++;
    const open = openAlertsByPatient();
    // The coloured counts are the alarms still waiting for someone (unacknowledged, as the tab's
    // title counts them); the acknowledged ones still open — ongoing, or ended and waiting to be
    // resolved — are one muted number beside them. Counting both in the colours kept "2 high" in
    // red over a ward whose alarms had all been seen to.
    let high = 0; let medium = 0; let low = 0; let acknowledged = 0;
    for (const list of open.values()) {
      for (const a of list) {
        if (a.state !== 'active') acknowledged++;
        else if (a.priority === 'high') high++;
        else if (a.priority === 'medium') medium++;
        else low++;
      }
    }
    setText(els.countHigh, String(high));
    setText(els.countMedium, String(medium));
    setText(els.countLow, String(low));
    setText(els.countAcknowledged, acknowledged ? `+ ${acknowledged} acknowledged` : '');
    soundForAlarms();
    updateTitle();
    renderBoard(open);
    if (currentView.name === 'patient') renderDetail(open);
  }

  /**
   * Sort key: the most urgent unacknowledged alarm (priority; a condition that goes on before one
   * that ended and only waits for its acknowledgement; then the oldest), then acknowledged ones,
   * then "no data", then everyone else by name. Without the "goes on" step, tiles holding alarms
   * that ended minutes ago kept a patient whose asystole had just begun below the fold.
   */
  function urgency(id, list, l) {
    let rank = 9; let since = Infinity;
    for (const a of list || []) {
      const r = PRIORITY_RANK[a.priority] + (a.end ? 0.25 : 0) + (a.state === 'acknowledged' ? 3 : 0);
      const t = Date.parse(a.onset);
      if (r < rank || (r === rank && t < since)) { rank = r; since = t; }
    }
    if (rank > 2 && noDataFor(l)) rank = Math.min(rank, 2.5);
    return { rank, since, name: patientName(id) };
  }

  function renderBoard(open) {
    const ids = [...patients.keys()];
    const keys = new Map(ids.map((id) => [id, urgency(id, open.get(id), live.get(id))]));
    ids.sort((a, b) => {
      const ka = keys.get(a); const kb = keys.get(b);
      return (ka.rank - kb.rank) || (ka.since - kb.since) || (ka.name < kb.name ? -1 : ka.name > kb.name ? 1 : 0);
    });
    for (const [id, t] of tiles) {
      if (!patients.has(id)) { t.spark.destroy(); t.root.remove(); tiles.delete(id); }
    }
    for (const id of ids) updateTile(id, open.get(id) || [], live.get(id));
    // Move tiles only when the order changed (keeps focus and avoids layout work every second).
    if (ids.join('\n') !== stats.order.join('\n')) {
      els.board.replaceChildren(...ids.map((id) => tiles.get(id).root));
      stats.order = ids;
    }
    els.empty.hidden = ids.length > 0;
    setText(els.empty, snapshotLoaded ? 'No patients on your care team.' : 'No data yet.');
    updateActionsEnabled();
  }

  function createTile(id) {
    const p = patients.get(id);
    const nameId = `tile-name-${id}`;
    const t = {};
    t.name = el('a', { className: 'tile-name', href: `#/patient/${encodeURIComponent(id)}`, id: nameId });
    t.mrn = el('span', { className: 'tile-mrn' });
    t.hr = el('span', { className: 'hr-value', title: HR_AVERAGING });
    t.hrUnit = el('span', { className: 'hr-unit', textContent: 'bpm' });
    t.nodata = el('div', { className: 'nodata-banner' });
    t.rhythm = el('div', { className: 'tile-rhythm' });
    t.device = el('div', { className: 'tile-device' });
    t.sparkBox = el('div', { className: 'spark', 'aria-hidden': 'true' });
    t.alarms = el('ul', { className: 'tile-alarms', 'aria-label': `Open alarms of ${p ? p.displayName : id}` });
    t.root = el('article', { className: 'tile', 'aria-labelledby': nameId, dataset: { patientId: id } },
      el('header', { className: 'tile-head' }, t.name, t.mrn),
      el('div', { className: 'tile-main' }, el('div', { className: 'hr' }, t.hr, t.hrUnit), t.sparkBox),
      t.nodata, t.rhythm, t.device, t.alarms);
    t.spark = charts.sparkline(t.sparkBox, 150, 44);
    t.sparkLast = -1;
    t.alarmKey = '';
    tiles.set(id, t);
    return t;
  }

  function updateTile(id, list, l) {
    const t = tiles.get(id) || createTile(id);
    const p = patients.get(id);
    setText(t.name, p ? p.displayName : id);
    setText(t.mrn, p && p.mrn ? `MRN ${p.mrn.value}` : p && p.displayName !== id ? id : '');
    if (t.mrn.title !== `patient ${id}`) t.mrn.title = `patient ${id}`;
    const groups = groupsOf(list);
    const top = groups.find((g) => g.alerts.some((a) => a.state === 'active')) || groups[0];
    const activeTop = top && top.alerts.some((a) => a.state === 'active') ? top.lead.priority : null;
    const nodata = noDataFor(l);
    const cls = ['tile'];
    if (activeTop) cls.push(`prio-${activeTop}`, top.alerts.some(signalling) ? 'alarming' : 'latched');
    else if (top) cls.push(`prio-${top.lead.priority}`, 'acked');
    if (nodata) cls.push('nodata');
    const className = cls.join(' ');
    if (t.root.className !== className) t.root.className = className;
    t.root.dataset.priority = activeTop || '';
    t.root.dataset.nodata = nodata ? '1' : '0';

    // Never a stale number: without fresh data the value is replaced, not greyed.
    if (nodata) {
      setText(t.hr, '---');
      setText(t.nodata, l ? `NO DATA for ${fmtDuration(dataAgeMs(l))}` : 'NO DATA since the board connected');
    } else {
      setText(t.hr, l.leadOff ? 'LEAD OFF' : shownHr(l) === null ? '?' : String(Math.round(shownHr(l))));
      setText(t.nodata, '');
    }
    setText(t.rhythm, l && !nodata ? rhythmText(l, list) : '');
    setText(t.device, deviceText(id, l));
    // The sparkline spans 5 min in 150 px (2 s a pixel): redrawing it every 5 s is enough and
    // spares 100 canvas redraws a second on a full board.
    if (l && l.hrHistory.length && l.deviceTimeMs !== t.sparkLast && (l.deviceTimeMs - t.sparkLast >= 5000 || nodata !== t.sparkNodata)) {
      t.sparkLast = l.deviceTimeMs;
      t.sparkNodata = nodata;
      t.spark.set(l.hrHistory);
    }
    // Alarm list: rebuilt only when its content changed.
    const key = connState + '|' + groups.map((g) => g.alerts.map((a) => `${a.id}:${a.state}:${a.revision}:${a.end ? 1 : 0}`).join(',')).join(';');
    if (key !== t.alarmKey) {
      t.alarmKey = key;
      t.alarms.replaceChildren(...groups.map((g) => alarmItem(g, p ? p.displayName : id)));
    }
    for (const ago of t.alarms.querySelectorAll('[data-onset]')) setText(ago, fmtAgo(Number(ago.dataset.onset)));
  }

  function rhythmText(l, list) {
    // Only a rhythm that goes on: an ended VT waiting for its acknowledgement is not the rhythm now.
    const rhythmAlarm = list.find((a) => (a.kind === 'afib' || a.kind === 'vt') && !a.end);
    const beats = l.beatClasses ? `beats ${l.beatClasses.split('').join(' ')}` : 'no beats';
    return rhythmAlarm ? `${KIND_LABELS[rhythmAlarm.kind]} · ${beats}` : beats;
  }

  function deviceText(id, l) {
    const p = patients.get(id);
    const deviceId = l ? l.deviceId : p && p.devices[0] ? p.devices[0].deviceId : 'no device';
    if (!l) return `${deviceId} · no data`;
    const parts = [deviceId];
    parts.push(l.batteryPct === null ? 'battery ?' : `battery ${l.batteryPct} %${l.charging ? ' (charging)' : ''}`);
    if (l.leadOff) parts.push('LEAD OFF');
    parts.push(noDataFor(l) ? `last data ${fmtAgo(Date.now() - dataAgeMs(l))}` : 'streaming');
    return parts.join(' · ');
  }

  function alarmItem(g, who) {
    const a = g.lead;
    const active = g.alerts.filter((x) => x.state === 'active');
    const latched = active.length > 0 && !active.some(signalling) ? ' latched' : '';
    const li = el('li', { className: `alarm prio-${a.priority} state-${active.length ? 'active' : a.state}${latched}`, dataset: { alertId: a.id, state: active.length ? 'active' : a.state } });
    const label = KIND_LABELS[a.kind] || a.kind;
    li.append(el('span', { className: `badge badge-${a.priority}`, textContent: a.priority }));
    // One episode's alarms of one kind are counted (an AF with fast ventricular response raises
    // extreme tachycardia again and again), others named: "Extreme tachycardia ×3 with Tachycardia".
    const counts = kindCounts(g.alerts);
    const same = counts.get(a.kind);
    const text = el('span', { className: 'alarm-text' }, el('strong', { textContent: same > 1 ? `${label} ×${same}` : label }));
    const others = [...counts].filter(([k]) => k !== a.kind).map(([k, n]) => `${KIND_LABELS[k] || k}${n > 1 ? ` ×${n}` : ''}`);
    if (others.length) text.append(el('span', { className: 'sub', textContent: ` with ${others.join(', ')}` }));
    const evidence = evidenceText(a);
    if (evidence) text.append(' · ', el('span', { className: 'evidence', textContent: evidence, title: criterionDetail(a) }));
    text.append(' · ', el('span', { className: 'ago', dataset: { onset: String(Date.parse(a.onset)) }, textContent: fmtAgo(Date.parse(a.onset)) }));
    if (active.length && a.end) text.append(el('span', { className: 'ended-tag', textContent: ` · ${endedTag(a)}` }));
    if (!active.length) text.append(el('span', { className: 'sub', textContent: ` · acknowledged by ${a.acknowledgedBy || '?'}` }));
    if (a.escalationLevel) text.append(el('span', { className: 'escalated-tag', textContent: ` · ESCALATED ×${a.escalationLevel}` }));
    li.append(text);
    const actions = el('span', { className: 'alarm-actions' });
    if (active.length) actions.append(actionButton('Acknowledge', `Acknowledge ${label} of ${who}`, () => changeAlerts(active, 'ack')));
    actions.append(actionButton('Resolve…', `Resolve ${label} of ${who}`, () => askResolve(g.alerts, `${label} of ${who}`)));
    li.append(actions);
    return li;
  }

  function actionButton(text, ariaLabel, onClick) {
    const b = el('button', { type: 'button', textContent: text, 'aria-label': ariaLabel, dataset: { needsLive: '1' } });
    b.disabled = connState !== 'live';
    b.addEventListener('click', async () => {
      b.dataset.busy = '1';
      b.disabled = true;
      try { await onClick(); } finally { b.dataset.busy = '0'; b.disabled = connState !== 'live'; }
    });
    return b;
  }

  async function changeAlerts(list, action, reason) {
    els.actionError.textContent = '';
    for (const alert of list) {
      try {
        const body = await api(`/v1/alerts/${encodeURIComponent(alert.id)}/${action}`, {
          method: 'POST',
          ...(reason ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason }) } : {}),
        });
        if (body.eventId) upsert(body.alert, BigInt(body.eventId));
      } catch (err) {
        if (err.unauthorized) return unauthorized('The server rejected the token.');
        els.actionError.textContent = `Could not ${action === 'ack' ? 'acknowledge' : 'resolve'} ${KIND_LABELS[alert.kind] || alert.kind} of ${patientName(alert.patientId)}: ${err.message}`;
      }
    }
    render();
  }

  // ---- resolve with a reason ------------------------------------------------------------------

  let resolving;
  function askResolve(list, what) {
    resolving = list;
    els.resolveForm.reset();
    els.resolveError.textContent = '';
    els.resolveWhat.textContent = `Resolve ${what}? A resolved alarm leaves the board; the reason is kept in its history.`;
    els.resolveDialog.showModal();
  }
  els.resolveCancel.addEventListener('click', () => els.resolveDialog.close());
  els.resolveForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const choice = els.resolveForm.querySelector('input[name="reason"]:checked');
    const reason = choice && choice.value === 'other' ? els.resolveOther.value.trim() : choice ? choice.value : '';
    if (!reason) { els.resolveError.textContent = 'Give a reason.'; return; }
    const list = resolving;
    els.resolveDialog.close();
    await changeAlerts(list.filter((a) => a.state !== 'resolved'), 'resolve', reason);
  });
  els.resolveOther.addEventListener('input', () => {
    const other = els.resolveForm.querySelector('input[value="other"]');
    if (els.resolveOther.value) other.checked = true;
  });

  // ---- sound controls -----------------------------------------------------------------------

  function renderAudio() {
    const st = sound.state;
    els.soundEnable.hidden = st.enabled;
    els.audioPause.hidden = !st.enabled;
    els.audioPause.textContent = st.paused ? 'Resume audio' : 'Pause audio 2 min';
    els.audioPause.setAttribute('aria-pressed', st.paused ? 'true' : 'false');
    const txt = !st.enabled ? '' : st.paused ? `AUDIO PAUSED — ${Math.max(0, Math.ceil((st.pausedUntilMs - Date.now()) / 1000))} s` : st.sounding ? `sounding: ${st.sounding}` : 'sound on';
    setText(els.audioStatus, txt);
    els.audioStatus.className = `audio-status ${st.paused ? 'paused' : st.sounding ? `sounding-${st.sounding}` : ''}`;
  }
  sound.onChange(renderAudio);
  setInterval(renderAudio, 1000);
  els.soundEnable.addEventListener('click', () => { void sound.enable().then(renderAudio); });
  els.audioPause.addEventListener('click', () => { if (sound.state.paused) sound.resume(); else sound.pause(AUDIO_PAUSE_MS); });

  // ---- patient detail -----------------------------------------------------------------------

  let currentView = { name: 'board' };
  /** Asks the stream for one patient's ECG frames (null: none). */
  function watchEcg(patientId) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'watch', patientId }));
  }

  const detail = { liveEcg: undefined, patientId: undefined, rangeH: 1, trend: undefined, ecg: undefined, ecgAlertId: undefined, ecgTriedAt: 0, historyKey: '', criteria: undefined, trendAt: 0, openCriteria: new Set() };

  function route() {
    const m = /^#\/patient\/([^/]+)$/.exec(location.hash);
    if (m) {
      currentView = { name: 'patient', id: decodeURIComponent(m[1]) };
      els.boardView.hidden = true;
      els.detailView.hidden = false;
      openDetail(currentView.id);
    } else {
      const from = detail.patientId;
      currentView = { name: 'board' };
      els.boardView.hidden = false;
      els.detailView.hidden = true;
      if (from) {
        watchEcg(null);
        // Back on the board: focus returns to the tile the user came from.
        requestAnimationFrame(() => { const t = tiles.get(from); if (t) t.name.focus(); });
      }
      detail.patientId = undefined;
    }
  }

  /** A patient the page knows nothing of once the board is loaded: not on this user's care team (or no such patient). */
  const notOnCareTeam = (id) => snapshotLoaded && !patients.has(id);

  function openDetail(id) {
    // Not on the care team: nothing of theirs is asked for (each refusal would only be a 403 and an audit entry).
    const denied = notOnCareTeam(id);
    if (detail.patientId !== id) {
      detail.patientId = id;
      detail.ecgAlertId = undefined;
      detail.historyKey = '';
      detail.openCriteria.clear();
      detail.criteria = undefined;
      if (detail.ecg) { detail.ecg.destroy(); detail.ecg = undefined; }
      if (detail.liveEcg) detail.liveEcg.destroy();
      els.liveEcg.replaceChildren();
      els.liveEcg.dataset.samples = '0';
      els.liveEcgNote.textContent = 'Waiting for ECG from the device…';
      detail.liveEcg = charts.liveEcg(els.liveEcg, els.liveEcg.clientWidth || 1000, 160);
      if (!denied) watchEcg(id);
      els.ecg.replaceChildren();
      els.ecgCaption.textContent = '';
      els.criteriaForm.replaceChildren();
    }
    if (!detail.trend) detail.trend = charts.trend(els.trend, els.trend.clientWidth || 1000, 260);
    // Keyboard and screen-reader users land on the patient's name, not at the top of the page.
    requestAnimationFrame(() => els.detailTitle.focus());
    if (!denied) {
      void loadTrend();
      void loadCriteria();
    }
    render();
  }

  function patientAlerts(id) {
    // Newest first; of alarms with one onset (a gap is both a pause and an asystole) the most urgent first.
    return [...alerts.values()].map((e) => e.alert).filter((a) => a.patientId === id)
      .sort((a, b) => (Date.parse(b.onset) - Date.parse(a.onset)) || (PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority]));
  }

  async function loadTrend() {
    const id = detail.patientId;
    const toMs = Date.now();
    const fromMs = toMs - detail.rangeH * 3600_000;
    detail.trendAt = toMs;
    try {
      const body = await api(`/v1/patients/${encodeURIComponent(id)}/vitals?${new URLSearchParams({ from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() })}`);
      if (id !== detail.patientId) return;
      const c = detail.criteria && detail.criteria.inForce.alarms;
      const limits = c ? [
        { bpm: c.extreme_brady.hrBelowBpm, label: `extreme brady < ${c.extreme_brady.hrBelowBpm}`, priority: 'high' },
        { bpm: c.brady.limitBpm, label: `brady < ${c.brady.limitBpm}`, priority: 'medium' },
        { bpm: c.tachy.limitBpm, label: `tachy > ${c.tachy.limitBpm}`, priority: 'medium' },
        { bpm: c.extreme_tachy.hrAboveBpm, label: `extreme tachy > ${c.extreme_tachy.hrAboveBpm}`, priority: 'high' },
      ] : [];
      const alarms = patientAlerts(id).filter((a) => a.category === 'physiological').map((a) => ({ timeMs: Date.parse(a.onset), priority: a.priority, label: KIND_LABELS[a.kind] || a.kind }));
      detail.trend.set({ heartRate: body.heartRate, alarms, limits, fromMs, toMs });
      els.trend.dataset.points = String(body.heartRate.length);
      els.trend.setAttribute('aria-label', `Heart-rate trend of ${patientName(id)}, last ${detail.rangeH} h: ${body.heartRate.length} points, ${alarms.length} alarm markers`);
      els.trendNote.textContent = `${body.heartRate.length} points · ${fmtTime(fromMs)} – ${fmtTime(toMs)} (device time) · dashed lines: this patient's limits in force`;
    } catch (err) {
      if (err.unauthorized) return unauthorized('The server rejected the token.');
      els.trendNote.textContent = `Trend unavailable: ${err.message}`;
    }
  }

  for (const b of document.querySelectorAll('.range button')) {
    b.addEventListener('click', () => {
      detail.rangeH = Number(b.dataset.range);
      for (const x of document.querySelectorAll('.range button')) x.setAttribute('aria-pressed', x === b ? 'true' : 'false');
      void loadTrend();
    });
  }

  async function showEcg(alert) {
    detail.ecgAlertId = alert.id;
    detail.ecgTriedAt = Date.now();
    const label = `${KIND_LABELS[alert.kind] || alert.kind} at ${fmtTime(Date.parse(alert.onset))}`;
    try {
      const { strip } = await api(`/v1/alerts/${encodeURIComponent(alert.id)}/ecg`);
      if (detail.ecgAlertId !== alert.id) return;
      if (detail.ecg) detail.ecg.destroy();
      els.ecg.replaceChildren();
      const seconds = strip.uV.length / strip.fsHz;
      detail.ecg = charts.ecgStrip(els.ecg, strip, Date.parse(alert.onset), els.ecg.clientWidth || 1000, 240);
      els.ecg.dataset.alertId = alert.id;
      els.ecg.dataset.samples = String(strip.uV.length);
      els.ecg.setAttribute('aria-label', `ECG strip of ${patientName(alert.patientId)} around ${label}: ${seconds} s at ${strip.fsHz} Hz, ${strip.beats.length} beats`);
      els.ecgCaption.textContent = `${label} · ${seconds} s at ${strip.fsHz} Hz from ${strip.deviceId} · dashed line = onset · letters = beat classes (N normal, V ventricular, S supraventricular, F fusion, Q unclassified or paced)`;
    } catch (err) {
      if (err.unauthorized) return unauthorized('The server rejected the token.');
      if (detail.ecgAlertId !== alert.id) return;
      els.ecg.dataset.alertId = '';
      els.ecgCaption.textContent = err.status === 404 ? `${label}: no ECG strip (yet). It is kept for devices that send ECG, 8 s after the onset.` : `ECG unavailable: ${err.message}`;
    }
  }

  function renderDetail() {
    const id = detail.patientId;
    if (!id) return;
    // One clear page, not an empty patient view that looks like a quiet patient.
    const denied = notOnCareTeam(id);
    els.detailDenied.hidden = !denied;
    els.detailBody.hidden = denied;
    els.detailNow.hidden = denied;
    if (denied) {
      setText(els.detailTitle, `Patient ${id}`);
      setText(els.detailSub, '');
      setText(els.detailDenied, `Patient ${id} is not on your care team (or does not exist): nothing of theirs is shown, and the server refuses their data. Ask an administrator if they should be.`);
      return;
    }
    const p = patients.get(id);
    setText(els.detailTitle, p ? p.displayName : id);
    // No MRN when the patient directory does not list the patient: say so, never show a made-up one.
    setText(els.detailSub, p && p.mrn ? `MRN ${p.mrn.value} (${p.mrn.system}) · patient ${id}` : p ? `no MRN: not in the patient directory · patient ${id}` : `patient ${id}`);
    const l = live.get(id);
    const nodata = noDataFor(l);
    setText(els.detailNow, nodata ? (l ? `NO DATA for ${fmtDuration(dataAgeMs(l))} · ${deviceText(id, l)}` : 'NO DATA since the board connected') : `${l.leadOff ? 'LEAD OFF' : `${shownHr(l) === null ? '?' : Math.round(shownHr(l))} bpm (averaged)`} · ${rhythmText(l, patientAlerts(id))} · ${deviceText(id, l)}`);
    els.detailNow.className = `detail-now ${nodata ? 'nodata' : ''}`;
    if (els.detailNow.title !== HR_AVERAGING) els.detailNow.title = HR_AVERAGING;
    const list = patientAlerts(id);
    // The strip: the newest physiological alarm by default; retried while its post window runs.
    // (Not the alarms the processor said no strip will come for: ecgStrip false, a device that sends no ECG.)
    const physio = list.filter((a) => a.category === 'physiological' && a.ecgStrip !== false);
    const chosen = physio.find((a) => a.id === detail.ecgAlertId) || physio[0];
    if (chosen && (chosen.id !== detail.ecgAlertId || (!els.ecg.dataset.alertId && Date.now() - detail.ecgTriedAt > 3000))) void showEcg(chosen);
    if (!chosen) {
      const stripless = list.some((a) => a.category === 'physiological');
      setText(els.ecgCaption, stripless ? 'No ECG strip: the device of these alarms sends no ECG (heartbeat intervals only).' : 'No physiological alarm for this patient yet.');
    }
    const key = connState + '|' + list.map((a) => `${a.id}:${a.revision}:${a.state}`).join(',') + '|' + detail.ecgAlertId;
    if (key === detail.historyKey) return;
    detail.historyKey = key;
    if (Date.now() - detail.trendAt > 15000) void loadTrend();
    els.historyRows.replaceChildren(...list.map((a) => {
      const handled = [];
      if (a.acknowledgedBy) handled.push(`acknowledged by ${a.acknowledgedBy} at ${fmtTime(Date.parse(a.acknowledgedAt))}`);
      if (a.resolvedBy) handled.push(resolvedText(a));
      if (a.escalationLevel) handled.push(`escalated ×${a.escalationLevel}`);
      const actions = el('td', { className: 'actions' });
      if (a.category === 'physiological' && a.ecgStrip !== false) {
        const b = el('button', { type: 'button', textContent: 'ECG', 'aria-pressed': a.id === detail.ecgAlertId ? 'true' : 'false', 'aria-label': `Show the ECG strip of ${KIND_LABELS[a.kind] || a.kind} at ${fmtTime(Date.parse(a.onset))}` });
        b.addEventListener('click', () => { void showEcg(a); detail.historyKey = ''; render(); });
        actions.append(b);
      }
      if (a.state === 'active') actions.append(actionButton('Acknowledge', `Acknowledge ${KIND_LABELS[a.kind]}`, () => changeAlerts([a], 'ack')));
      if (a.state !== 'resolved') actions.append(actionButton('Resolve…', `Resolve ${KIND_LABELS[a.kind]}`, () => askResolve([a], KIND_LABELS[a.kind] || a.kind)));
      return el('tr', { className: `prio-${a.priority} state-${a.state}${a.state === 'active' && !signalling(a) ? ' latched' : ''}`, dataset: { alertId: a.id, state: a.state } },
        el('td', {}, el('span', { className: `badge badge-${a.priority}`, textContent: a.priority })),
        el('td', {}, el('div', { className: 'kind', textContent: KIND_LABELS[a.kind] || a.kind }), el('div', { className: 'evidence', textContent: evidenceText(a), title: criterionDetail(a) }), criterionDisclosure(a)),
        el('td', { textContent: fmtTime(Date.parse(a.onset)) }),
        el('td', { textContent: a.end ? fmtTime(Date.parse(a.end)) : a.state === 'resolved' ? '' : 'ongoing' }),
        el('td', {}, el('span', { className: `state-pill ${a.state}`, textContent: a.state === 'active' && a.end ? endedTag(a) : a.state })),
        el('td', { className: 'handled', textContent: handled.join('; ') }),
        actions);
    }));
    updateActionsEnabled();
  }

  /**
   * The history row's collapsed "criterion" (criterionDetail); one opened stays open when the
   * history is rebuilt (a new alarm, the strip shown), until another patient is opened.
   */
  function criterionDisclosure(a) {
    const text = criterionDetail(a);
    if (!text) return null;
    const d = el('details', { className: 'criterion sub', open: detail.openCriteria.has(a.id) }, el('summary', { textContent: 'criterion' }), el('div', { className: 'criterion-text', textContent: text }));
    d.addEventListener('toggle', () => { if (d.open) detail.openCriteria.add(a.id); else detail.openCriteria.delete(a.id); });
    return d;
  }

  // ---- criteria -----------------------------------------------------------------------------
  const FRACTIONAL_CRITERIA = new Set(['leakageBelow', 'similarityMin']);
  /**
   * Signal-processing settings of the detectors rather than clinical limits (cardiologist walk #9:
   * the form asked a clinician for "VF-filter leakage below 0.65"): grouped at the end of their row
   * under an "engineering" tag, still editable (same rules) for the clinical engineering team.
   */
  const ENGINEERING_CRITERIA = new Set(['vt.leakageBelow', 'vt.similarityMin']);
  /** How a stored unit reads on the form: durations in seconds (a clinician types 120 s, not 120000 ms). */
  const SHOWN_UNIT = { ms: { text: 's', scale: 1000 }, bpm: { text: 'bpm', scale: 1 }, beats: { text: 'beats', scale: 1 }, '%': { text: '%', scale: 1 }, ratio: { text: '', scale: 1 } };

  /**
   * One criterion as a clinician reads it — "heart rate below [50] bpm" — with its range and
   * default from the server's guide (`fields` of GET …/criteria; contracts/criteria-guide.ts); a
   * value that differs from the default says so. The input keeps the criterion's name
   * (`brady.sustainMs`) and its value in the shown unit (`data-scale` turns it back on saving).
   * Without a guide (an older server) the field's name and stored value are shown as before.
   */
  function criterionField(kind, k, v, guide) {
    const name = `${kind}.${k}`;
    if (!guide) {
      // Whole numbers except the fractional criteria (vt.leakageBelow 0–0.75, vt.similarityMin 0–0.9): step 1 would make 0.65 invalid and block saving.
      const input = el('input', { type: 'number', value: String(v), name, step: FRACTIONAL_CRITERIA.has(k) ? '0.01' : '1', 'aria-label': `${KIND_LABELS[kind]} ${k}` });
      return el('label', {}, `${k} `, input);
    }
    const unit = SHOWN_UNIT[guide.unit] || { text: guide.unit, scale: 1 };
    const shown = (x) => String(x / unit.scale);
    // Seconds may be fractional (an asystole limit of 3.5 s); ratios in hundredths; the rest whole.
    const step = unit.scale !== 1 ? 'any' : guide.unit === 'ratio' ? '0.01' : '1';
    const range = `${shown(guide.min)}–${shown(guide.max)}${unit.text ? ` ${unit.text}` : ''}`;
    const input = el('input', {
      type: 'number', value: shown(v), name, step, min: shown(guide.min), max: shown(guide.max), dataset: { scale: String(unit.scale) },
      'aria-label': `${KIND_LABELS[kind]}: ${guide.label}${unit.text ? ` (${unit.text})` : ''}`,
    });
    const changed = v !== guide.default;
    const label = el('label', { className: changed ? 'changed' : '', title: `${guide.help ? `${guide.help} ` : ''}Allowed ${range}; default ${shown(guide.default)}${unit.text ? ` ${unit.text}` : ''}. (${name})` },
      `${guide.label} `, input, unit.text ? ` ${unit.text}` : '');
    if (changed) label.append(el('span', { className: 'default-note', textContent: ` (default ${shown(guide.default)})` }));
    return label;
  }

  const ALWAYS_ON = new Set(['asystole', 'extreme_brady', 'extreme_tachy', 'vt', 'signal_loss']);

  async function loadCriteria() {
    const id = detail.patientId;
    try {
      const body = await api(`/v1/patients/${encodeURIComponent(id)}/criteria`);
      if (id !== detail.patientId) return;
      detail.criteria = body;
      renderCriteria(body);
      void loadTrend();
    } catch (err) {
      if (err.unauthorized) return unauthorized('The server rejected the token.');
      els.criteriaNote.textContent = `Criteria unavailable: ${err.message}`;
    }
  }

  function renderCriteria(body) {
    const c = body.current;
    els.criteriaNote.textContent = (c.version === 0 ? 'The defaults for every patient; no patient-specific version yet.' : `Version ${c.version}, set by ${c.setBy} at ${fmtTime(Date.parse(c.setAt))}${c.reason ? ` — “${c.reason}”` : ''}; in force: version ${body.inForce.version}.`)
      + (body.fields ? ' Point at a criterion for its meaning, allowed range and default.' : '');
    const rows = Object.entries(c.alarms).map(([kind, params]) => {
      const cells = [el('th', { scope: 'row', textContent: KIND_LABELS[kind] || kind })];
      const enabled = el('input', { type: 'checkbox', checked: params.enabled, disabled: ALWAYS_ON.has(kind), name: `${kind}.enabled`, 'aria-label': `${KIND_LABELS[kind]} enabled` });
      cells.push(el('td', {}, enabled));
      const fields = el('td', { className: 'params' });
      const engineering = el('span', { className: 'engineering', title: 'Engineering: signal-processing settings of the detector, not clinical limits. Change only with the clinical engineering team.' },
        el('span', { className: 'engineering-tag', textContent: 'engineering' }));
      for (const [k, v] of Object.entries(params)) {
        if (k === 'enabled') continue;
        const field = criterionField(kind, k, v, body.fields && body.fields[kind] && body.fields[kind][k]);
        (ENGINEERING_CRITERIA.has(`${kind}.${k}`) ? engineering : fields).append(field);
      }
      if (engineering.childElementCount > 1) fields.append(engineering);
      cells.push(fields);
      return el('tr', {}, ...cells);
    });
    const reason = el('input', { type: 'text', name: 'reason', maxLength: 500, placeholder: 'reason for the change', 'aria-label': 'Reason for the change' });
    const save = el('button', { type: 'submit', textContent: 'Save criteria', dataset: { needsLive: '1' } });
    const status = el('span', { className: 'sub', role: 'status' });
    // A bedside monitor's "relearn arrhythmia": the processor learns the patient's beat shapes from
    // the ECG afresh (beats read V after a patch was put back at another angle). Not during a
    // ventricular rhythm: that rhythm would be learned as the patient's beat.
    const relearn = el('button', {
      type: 'button', textContent: 'Relearn beat shapes', dataset: { needsLive: '1' },
      title: 'Learn this patient\'s beat shapes from the ECG afresh (e.g. every beat reads V after the patch was re-applied). Not during a ventricular rhythm: it would be learned as the normal beat.',
    });
    const lastRelearn = (body.relearns || []).at(-1);
    const relearned = el('span', { className: 'sub', id: 'relearn-note', textContent: lastRelearn ? `Beat shapes last relearned at ${fmtTime(Date.parse(lastRelearn.at))} by ${lastRelearn.by}.` : '' });
    els.criteriaForm.replaceChildren(
      el('table', { className: 'criteria' }, el('thead', {}, el('tr', {}, el('th', { scope: 'col', textContent: 'Alarm' }), el('th', { scope: 'col', textContent: 'On' }), el('th', { scope: 'col', textContent: 'Parameters' }))), el('tbody', {}, ...rows)),
      el('div', { className: 'criteria-actions' }, reason, save, status),
      el('div', { className: 'criteria-actions' }, relearn, relearned));
    relearn.onclick = async () => {
      // The monitors' caution made a question: relearning now would take the ventricular complex
      // as the patient's normal beat, and the VT could stop being alarmed.
      const vt = patientAlerts(detail.patientId).find((a) => a.kind === 'vt' && !a.end && a.state !== 'resolved');
      if (vt && !window.confirm(`A ventricular tachycardia alarm is open for this patient (since ${fmtTime(Date.parse(vt.onset))}). Relearning now would learn that rhythm as the patient's normal beat, and it could stop being alarmed. Relearn anyway?`)) {
        relearned.textContent = 'Not relearned: a ventricular tachycardia alarm is open.';
        return;
      }
      try {
        const next = await api(`/v1/patients/${encodeURIComponent(detail.patientId)}/relearn`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify(reason.value.trim() ? { reason: reason.value.trim() } : {}),
        });
        detail.criteria = next;
        renderCriteria(next);
      } catch (err) {
        if (err.unauthorized) return unauthorized('The server rejected the token.');
        relearned.textContent = `Not relearned: ${err.message}`;
      }
    };
    updateActionsEnabled();
    els.criteriaForm.onsubmit = async (ev) => {
      ev.preventDefault();
      const alarms = structuredClone(c.alarms);
      for (const input of els.criteriaForm.querySelectorAll('input[name*="."]')) {
        const [kind, k] = input.name.split('.');
        // Back to the stored unit (seconds → ms); rounded, as the API takes whole ms.
        const scale = Number(input.dataset.scale || 1);
        alarms[kind][k] = input.type === 'checkbox' ? input.checked : scale === 1 ? Number(input.value) : Math.round(Number(input.value) * scale);
      }
      try {
        const next = await api(`/v1/patients/${encodeURIComponent(detail.patientId)}/criteria`, {
          method: 'PUT', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ alarms, expectedVersion: c.version, ...(reason.value.trim() ? { reason: reason.value.trim() } : {}) }),
        });
        detail.criteria = next;
        renderCriteria(next);
        void loadTrend();
      } catch (err) {
        if (err.unauthorized) return unauthorized('The server rejected the token.');
        status.textContent = `Not saved: ${err.message}`;
      }
    };
  }

  // ---- start --------------------------------------------------------------------------------

  els.tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (els.tokenInput.value.trim()) useToken(els.tokenInput.value);
  });
  $('oidc-sign-in').addEventListener('click', () => { void startLogin(); });
  els.signOut.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(REFRESH_KEY);
    token = '';
    clearBoard();
    showIdentity();
    unauthorized('Signed out.');
  });
  window.addEventListener('hashchange', () => {
    if (/token=/.test(location.hash)) {
      readTokenFromUrl();
      const t = sessionStorage.getItem(TOKEN_KEY);
      if (t && t !== token) useToken(t);
      return;
    }
    route();
  });

  readTokenFromUrl();
  route();
  render();
  renderAudio();
  void (async () => {
    await loadAuthConfig();
    await finishLogin();
    token = sessionStorage.getItem(TOKEN_KEY) || '';
    showIdentity();
    connect();
  })();
})();
