import { readFileSync, readlinkSync } from 'node:fs';

/**
 * One thread's own CPU time, from Linux's `/proc` (a process's total counts every thread, the
 * garbage collector's and other workers' among them). Elsewhere these answer `undefined` and the
 * caller falls back on what it can measure.
 */

/** The calling thread's id (its `/proc/self/task` entry), or undefined where there is no `/proc`. */
export function ownThreadId(): number | undefined {
  try {
    // "PID/task/TID"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * User + system CPU of thread `tid` of this process so far, in ms (the kernel counts it in ticks of
 * 10 ms), or undefined when it cannot be read (no `/proc`, or the thread has ended).
 */
export function threadCpuMs(tid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // utime and stime are fields 14 and 15; after the name's ")" and a space, fields 3 onward.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (Number(fields[11]) + Number(fields[12])) * 10;
    return Number.isFinite(ms) ? ms : undefined;
  } catch {
    return undefined;
  }
}
