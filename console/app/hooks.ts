import { useEffect, useRef } from 'preact/hooks';

/**
 * Runs `task` now and then `ms` after each run ends (never two at once), until the component goes
 * or `deps` change. A task's answer is ignored once it is stale, so a slow poll never overwrites a newer one.
 */
export function usePoll(task: (alive: () => boolean) => Promise<void>, ms: number, deps: unknown[]): void {
  const latest = useRef(task);
  latest.current = task;
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const alive = () => live;
    const run = async () => {
      try {
        await latest.current(alive);
      } catch {
        // the task shows its own errors
      }
      if (live) timer = setTimeout(run, ms);
    };
    void run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, deps);
}

/** Calls `onSettled` with `value` once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number, onSettled: (value: T) => void): void {
  const latest = useRef(onSettled);
  latest.current = onSettled;
  useEffect(() => {
    const timer = setTimeout(() => latest.current(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
}
