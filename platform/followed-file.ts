/**
 * A configuration file that others write while we run (the hospital's admission feed writes the
 * MRN file and the patient directory): read now — a bad file fails the start — then, when asked,
 * looked at at most every `checkEveryMs` and read again when it changed (inode, size or mtime: a
 * rewrite in place or a rename over it). A file that is momentarily missing or invalid (a writer
 * half-way) keeps the last good version, with one warning per bad version.
 */
import fs from 'node:fs';
import type { Logger } from './log.ts';

export interface FollowedFileOptions {
  logger: Logger;
  /** What the file is, for the log lines ("patient MRN file"). */
  what: string;
  checkEveryMs?: number;
  now?: () => number;
}

/**
 * @param read parses the file (throws on a bad one)
 * @param count how many entries a version holds, for the "re-read" log line
 * @returns the latest good version, checked for changes as described above
 */
export function followFile<T>(file: string, read: (file: string) => T, count: (value: T) => number, o: FollowedFileOptions): () => T {
  const checkEveryMs = o.checkEveryMs ?? 2_000;
  const now = o.now ?? Date.now;
  const versionOf = () => {
    const st = fs.statSync(file);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  };
  // Stat before reading: a change during the read is then seen at the next check. A missing file
  // is the reader's to report (its message names the setting).
  let loaded: string;
  try {
    loaded = versionOf();
  } catch {
    loaded = 'missing';
  }
  let value = read(file);
  let checkedAt = now();
  let refused: string | undefined;
  return () => {
    if (now() - checkedAt < checkEveryMs) return value;
    checkedAt = now();
    let version = 'missing';
    try {
      version = versionOf();
      if (version === loaded || version === refused) return value;
      value = read(file);
      loaded = version;
      o.logger.info(`${o.what} re-read`, { file, entries: count(value) });
    } catch (err) {
      if (version !== refused) o.logger.warn(`${o.what} unreadable or invalid; the last good version stays in use`, { file, err: err as Error });
      refused = version;
    }
    return value;
  };
}
