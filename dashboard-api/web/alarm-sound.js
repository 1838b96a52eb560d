// Auditory alarm signals with Web Audio, after IEC 60601-1-8 (fhir-and-alarms.md §7): a high
// priority burst is 10 pulses (3 + 2, pause, 3 + 2) repeated every few seconds, medium is 3 pulses,
// low is 2 pulses repeated rarely. Pulses are square waves (a fundamental with harmonics, as the
// standard asks for, so they stay audible and locatable) with a short attack and release.
//
// Browsers start audio only after a user gesture (autoplay policy): enable() must run from a click;
// until then the page shows a visible "enable sound" control. State for tests and the page is in
// window.__pbAudio (headless browsers play nothing anyone can hear).
'use strict';
(() => {
  /** Pulse start offsets (s) and length of one burst, per priority; repeat period (s). */
  const PATTERNS = {
    high: { freqHz: 880, pulseS: 0.15, offsetsS: [0, 0.2, 0.4, 0.8, 1.0, 2.0, 2.2, 2.4, 2.8, 3.0], periodS: 6 },
    medium: { freqHz: 660, pulseS: 0.2, offsetsS: [0, 0.3, 0.6], periodS: 8 },
    low: { freqHz: 520, pulseS: 0.2, offsetsS: [0, 0.35], periodS: 30 },
  };
  const RANK = { high: 0, medium: 1, low: 2 };

  const state = {
    /** The AudioContext runs (a user enabled sound). */
    enabled: false,
    contextState: 'none',
    /** What should sound now (highest open, unacknowledged priority), before any pause. */
    wanted: null,
    /** What is sounding now: wanted, unless paused or not enabled. */
    sounding: null,
    paused: false,
    pausedUntilMs: 0,
    /** Bursts started since load, and the latest. */
    bursts: 0,
    lastBurst: null,
  };
  window.__pbAudio = state;

  let ctx;
  let master;
  let timer;
  let pauseTimer;
  const listeners = new Set();
  const notify = () => { for (const l of listeners) l(state); };

  function pulse(at, freqHz, lengthS) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'square';
    osc.frequency.value = freqHz;
    gain.gain.setValueAtTime(0, at);
    gain.gain.linearRampToValueAtTime(0.25, at + 0.02);
    gain.gain.setValueAtTime(0.25, at + lengthS - 0.03);
    gain.gain.linearRampToValueAtTime(0, at + lengthS);
    osc.connect(gain).connect(master);
    osc.start(at);
    osc.stop(at + lengthS + 0.01);
  }

  function burst(priority) {
    const p = PATTERNS[priority];
    const t0 = ctx.currentTime + 0.05;
    for (const off of p.offsetsS) pulse(t0 + off, p.freqHz, p.pulseS);
    state.bursts++;
    state.lastBurst = { priority, at: Date.now(), pulses: p.offsetsS.length };
    notify();
  }

  function apply() {
    const next = state.enabled && !state.paused ? state.wanted : null;
    if (next === state.sounding) return;
    clearInterval(timer);
    timer = undefined;
    state.sounding = next;
    if (next) {
      burst(next);
      timer = setInterval(() => burst(next), PATTERNS[next].periodS * 1000);
    }
    notify();
  }

  window.PbAlarmSound = {
    state,
    onChange(fn) { listeners.add(fn); },
    /** From a click: create or resume the AudioContext. */
    async enable() {
      if (!ctx) {
        ctx = new AudioContext();
        master = ctx.createGain();
        master.gain.value = 0.8;
        master.connect(ctx.destination);
        ctx.onstatechange = () => { state.contextState = ctx.state; state.enabled = ctx.state === 'running'; apply(); notify(); };
      }
      await ctx.resume();
      state.contextState = ctx.state;
      state.enabled = ctx.state === 'running';
      apply();
      notify();
      return state.enabled;
    },
    /** The signal the alarms call for: 'high' | 'medium' | 'low' | null. */
    set(priority) {
      if (priority !== null && !(priority in PATTERNS)) priority = null;
      const rising = priority !== null && (state.wanted === null || RANK[priority] < RANK[state.wanted]);
      state.wanted = priority;
      // Audio paused ends when a more urgent condition appears (IEC 60601-1-8 allows, and clinicians expect, it).
      if (rising && state.paused) this.resume();
      apply();
    },
    /** Silences for `ms`; then sounds again if the condition is still there (re-alarm). */
    pause(ms) {
      clearTimeout(pauseTimer);
      state.paused = true;
      state.pausedUntilMs = Date.now() + ms;
      pauseTimer = setTimeout(() => this.resume(), ms);
      apply();
      notify();
    },
    resume() {
      clearTimeout(pauseTimer);
      state.paused = false;
      state.pausedUntilMs = 0;
      apply();
      notify();
    },
  };
})();
