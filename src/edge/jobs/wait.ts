// The long polls' one wait: until someone calls the waker this adds to `waiters`, or `ms` pass.

/**
 * Waits up to `ms` for a wake-up: the returned promise resolves when any code calls one of the
 * functions in `waiters` (each waiter removes itself), or when the time is up.
 *
 * @example
 * await wakeOrTimeout(this.waiters, remaining); // elsewhere: for (const wake of [...waiters]) wake();
 */
export function wakeOrTimeout(waiters: Set<() => void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      waiters.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    waiters.add(done);
  });
}
