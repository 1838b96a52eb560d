// Charts of the board on uPlot (canvas, fast enough to redraw 100 sparklines a second and a
// 250 Hz ECG strip without jank), served from the npm package by the API server (/vendor/uplot.js).
// Three kinds: a tile's heart-rate sparkline, the patient's heart-rate trend with alarm markers
// and limits, and the ECG strip around an alarm with beat annotations.
'use strict';
(() => {
  const COLORS = { high: '#e5322d', medium: '#f5d000', low: '#1ec8e0', hr: '#2fbf71', ecg: '#7CFC9A', grid: '#2a3542', text: '#9aa8b6', leadOff: 'rgba(30,200,224,0.18)', onset: '#ffffff' };
  const available = typeof window.uPlot === 'function';

  function unavailable(container) {
    container.textContent = 'Charts unavailable: the uPlot package is not installed on the server (npm ci).';
    container.classList.add('chart-missing');
    return { set() {}, destroy() {} };
  }

  /** An axis tick (seconds since the epoch) as local HH:MM, or the date (YYYY-MM-DD) at midnight. */
  const clockLabel = (sec) => {
    const d = new Date(sec * 1000);
    const p2 = (n) => String(n).padStart(2, '0');
    return d.getHours() === 0 && d.getMinutes() === 0 ? `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}` : `${p2(d.getHours())}:${p2(d.getMinutes())}`;
  };

  /** A tile's heart-rate sparkline: no axes, no cursor, fixed 20–200 bpm so tiles compare at a glance. */
  function sparkline(container, width, height) {
    if (!available) return unavailable(container);
    const plot = new uPlot({
      width, height, pxAlign: true,
      legend: { show: false }, cursor: { show: false }, select: { show: false },
      scales: { x: { time: false }, y: { range: [20, 200] } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: COLORS.hr, width: 1.5, points: { show: false } }],
    }, [[], []], container);
    return {
      /** points: [device time ms, bpm][] */
      set(points) {
        const xs = new Array(points.length);
        const ys = new Array(points.length);
        for (let i = 0; i < points.length; i++) { xs[i] = points[i][0] / 1000; ys[i] = points[i][1]; }
        plot.setData([xs, ys]);
      },
      destroy() { plot.destroy(); },
    };
  }

  /**
   * Heart-rate trend: line, horizontal dashed limits, a vertical marker at each alarm onset in its
   * priority colour. data: { heartRate: [{timeMs, hrBpm}], alarms: [{timeMs, priority, label}], limits: [{bpm, label, priority}], fromMs, toMs }
   */
  function trend(container, width, height) {
    if (!available) return unavailable(container);
    let extra = { alarms: [], limits: [] };
    const draw = (u) => {
      const c = u.ctx;
      c.save();
      c.lineWidth = 1 * devicePixelRatio;
      c.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
      for (const l of extra.limits) {
        const y = u.valToPos(l.bpm, 'y', true);
        c.strokeStyle = COLORS[l.priority] || COLORS.text;
        c.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
        c.beginPath(); c.moveTo(u.bbox.left, y); c.lineTo(u.bbox.left + u.bbox.width, y); c.stroke();
        c.fillStyle = c.strokeStyle;
        c.textAlign = 'right';
        c.fillText(l.label, u.bbox.left + u.bbox.width - 4 * devicePixelRatio, y - 3 * devicePixelRatio);
        c.textAlign = 'left';
      }
      c.setLineDash([]);
      // Labels go on the first of three rows where they do not overlap another; with no room left
      // the marker line stays and its label is left out (piled-up text read as one red smear).
      const rowEnds = [-Infinity, -Infinity, -Infinity];
      const gap = 6 * devicePixelRatio;
      for (const a of [...extra.alarms].sort((p, q) => p.timeMs - q.timeMs)) {
        const x = u.valToPos(a.timeMs / 1000, 'x', true);
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
        c.strokeStyle = COLORS[a.priority] || COLORS.text;
        c.lineWidth = 2 * devicePixelRatio;
        c.beginPath(); c.moveTo(x, u.bbox.top); c.lineTo(x, u.bbox.top + u.bbox.height); c.stroke();
        c.fillStyle = c.strokeStyle;
        const w = c.measureText(a.label).width;
        // Near the right edge (the newest alarm) the label goes to the left of its line.
        const right = x + w + gap > u.bbox.left + u.bbox.width;
        const from = right ? x - 3 * devicePixelRatio - w : x + 3 * devicePixelRatio;
        const row = rowEnds.findIndex((end) => from > end + gap);
        if (row < 0) continue;
        rowEnds[row] = from + w;
        c.fillText(a.label, from, u.bbox.top + (12 + 14 * row) * devicePixelRatio);
      }
      c.restore();
    };
    const plot = new uPlot({
      width, height,
      legend: { show: false },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(30, min ?? 30) - 5, Math.max(160, max ?? 160) + 5] } },
      axes: [
        // 24-hour local time like every other time on the page (uPlot's default is "4:20am"); the date at midnight.
        { stroke: COLORS.text, grid: { stroke: COLORS.grid }, values: (_u, vals) => vals.map(clockLabel) },
        { stroke: COLORS.text, grid: { stroke: COLORS.grid }, label: 'bpm', size: 50 },
      ],
      series: [{}, { label: 'Heart rate', stroke: COLORS.hr, width: 1.5, points: { show: false } }],
      hooks: { draw: [draw] },
    }, [[], []], container);
    return {
      set(data) {
        extra = { alarms: data.alarms || [], limits: data.limits || [] };
        const hr = data.heartRate;
        const xs = hr.map((p) => p.timeMs / 1000);
        const ys = hr.map((p) => p.hrBpm);
        plot.batch(() => {
          plot.setData([xs, ys], false);
          plot.setScale('x', { min: data.fromMs / 1000, max: data.toMs / 1000 });
        });
      },
      destroy() { plot.destroy(); },
    };
  }

  /**
   * The ECG strip around an alarm: x in seconds from the onset, y in mV, ECG-paper grid (0.2 s ×
   * 0.5 mV), the onset as a white line, lead-off stretches shaded, each beat labelled with its
   * firmware class (N, S, V, F, Q) at the top.
   */
  function ecgStrip(container, strip, onsetMs, width, height) {
    if (!available) return unavailable(container);
    const n = strip.uV.length;
    const xs = new Array(n);
    const ys = new Array(n);
    const t0 = (strip.startMs - onsetMs) / 1000;
    for (let i = 0; i < n; i++) {
      xs[i] = t0 + i / strip.fsHz;
      ys[i] = strip.uV[i] === null ? null : strip.uV[i] / 1000;
    }
    const draw = (u) => {
      const c = u.ctx;
      c.save();
      for (const [from, to] of strip.leadOff) {
        const x0 = u.valToPos(xs[from], 'x', true);
        const x1 = u.valToPos(xs[Math.min(to, n - 1)], 'x', true);
        c.fillStyle = COLORS.leadOff;
        c.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
        c.fillStyle = COLORS.low;
        c.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
        c.fillText('LEAD OFF', x0 + 3 * devicePixelRatio, u.bbox.top + u.bbox.height - 4 * devicePixelRatio);
      }
      const xo = u.valToPos(0, 'x', true);
      c.strokeStyle = COLORS.onset;
      c.lineWidth = 1.5 * devicePixelRatio;
      c.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
      c.beginPath(); c.moveTo(xo, u.bbox.top); c.lineTo(xo, u.bbox.top + u.bbox.height); c.stroke();
      c.setLineDash([]);
      c.font = `bold ${12 * devicePixelRatio}px system-ui, sans-serif`;
      c.textAlign = 'center';
      for (const b of strip.beats) {
        const x = u.valToPos((b.timeMs - onsetMs) / 1000, 'x', true);
        c.fillStyle = b.cls === 'N' ? COLORS.text : b.cls === 'V' ? COLORS.high : COLORS.medium;
        c.fillText(b.cls, x, u.bbox.top + 13 * devicePixelRatio);
      }
      c.restore();
    };
    const plot = new uPlot({
      width, height,
      legend: { show: false },
      cursor: { y: false },
      scales: { x: { time: false }, y: { range: (_u, min, max) => [Math.min(-1.5, (min ?? 0) - 0.2), Math.max(1.5, (max ?? 0) + 0.2)] } },
      axes: [
        { stroke: COLORS.text, grid: { stroke: '#3a2228', width: 1 }, ticks: { show: false }, incrs: [0.2, 1], values: (_u, vals) => vals.map((v) => (Math.abs(v - Math.round(v)) < 1e-6 ? `${Math.round(v)} s` : '')) },
        { stroke: COLORS.text, grid: { stroke: '#3a2228', width: 1 }, incrs: [0.5, 1, 2, 5], values: (_u, vals) => vals.map((v) => v.toFixed(1)), label: 'mV', size: 50 },
      ],
      series: [{}, { label: 'ECG', stroke: COLORS.ecg, width: 1.2, points: { show: false } }],
      hooks: { draw: [draw] },
    }, [xs, ys], container);
    return { set() {}, destroy() { plot.destroy(); } };
  }

  /**
   * The watched patient's ECG as it arrives (one frame a second from the stream): the last
   * `windowS` seconds, x in seconds before the newest sample; lead-off frames leave a gap.
   */
  function liveEcg(container, width, height, windowS = 8) {
    if (!available) return unavailable(container);
    let xs = []; let ys = [];
    const plot = new uPlot({
      width, height,
      legend: { show: false }, cursor: { show: false }, select: { show: false },
      scales: { x: { time: false, range: [-windowS, 0] }, y: { range: [-1.5, 1.5] } },
      axes: [
        { stroke: COLORS.text, grid: { stroke: '#3a2228', width: 1 }, ticks: { show: false }, incrs: [1], values: (_u, vals) => vals.map((v) => `${Math.round(v)} s`) },
        { stroke: COLORS.text, grid: { stroke: '#3a2228', width: 1 }, incrs: [0.5, 1, 2, 5], values: (_u, vals) => vals.map((v) => v.toFixed(1)), label: 'mV', size: 50 },
      ],
      series: [{}, { stroke: COLORS.ecg, width: 1.2, points: { show: false } }],
    }, [[], []], container);
    return {
      /** frame: {ts, fs, uV, leadOff} */
      push(frame) {
        const t0 = frame.ts / 1000;
        if (xs.length && t0 < xs[xs.length - 1]) { xs = []; ys = []; } // device restarted its clock
        if (xs.length && t0 - xs[xs.length - 1] > 2 / frame.fs) { xs.push(t0 - 1 / frame.fs); ys.push(null); } // a hole
        for (let i = 0; i < frame.uV.length; i++) { xs.push(t0 + i / frame.fs); ys.push(frame.leadOff ? null : frame.uV[i] / 1000); }
        const newest = xs[xs.length - 1];
        let cut = 0;
        while (cut < xs.length && xs[cut] < newest - windowS) cut++;
        if (cut) { xs = xs.slice(cut); ys = ys.slice(cut); }
        plot.setData([xs.map((x) => x - newest), ys]);
        return xs.length;
      },
      destroy() { plot.destroy(); },
    };
  }

  window.PbCharts = { available, sparkline, trend, ecgStrip, liveEcg };
})();
