/**
 * The kinds of episode a scenario can inject, and which alarm each must raise.
 *
 * Beat kinds change the device's beats; frame kinds change what the device reports or whether
 * it publishes. `nsvt` is a distractor: a run of 3–4 ventricular beats, shorter than the
 * 5-beat VT alarm criterion, that must raise no alarm.
 */
import type { AlertKind } from '../contracts/alert.ts';

export const BEAT_EPISODE_KINDS = ['extreme_brady', 'extreme_tachy', 'asystole', 'pause', 'brady', 'tachy', 'vt', 'nsvt', 'afib'] as const;
export const FRAME_EPISODE_KINDS = ['lead_off', 'low_battery', 'signal_loss'] as const;
export const EPISODE_KINDS = [...BEAT_EPISODE_KINDS, ...FRAME_EPISODE_KINDS] as const;

export type BeatEpisodeKind = (typeof BEAT_EPISODE_KINDS)[number];
export type FrameEpisodeKind = (typeof FRAME_EPISODE_KINDS)[number];
export type EpisodeKind = (typeof EPISODE_KINDS)[number];

/** The alarm an episode kind must raise; null for a distractor that must raise none. */
export const ALARM_OF_EPISODE: Readonly<Record<EpisodeKind, AlertKind | null>> = {
  extreme_brady: 'extreme_brady',
  extreme_tachy: 'extreme_tachy',
  asystole: 'asystole',
  pause: 'pause',
  brady: 'brady',
  tachy: 'tachy',
  vt: 'vt',
  nsvt: null,
  afib: 'afib',
  lead_off: 'lead_off',
  low_battery: 'low_battery',
  signal_loss: 'signal_loss',
};

export const isFrameEpisodeKind = (kind: EpisodeKind): kind is FrameEpisodeKind => (FRAME_EPISODE_KINDS as readonly string[]).includes(kind);
