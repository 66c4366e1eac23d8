/** Whether a process id is running, for locks and leftovers named by the PID that wrote them. */

/**
 * True when `pid` is a running process. Linux answers through /proc; where there is no /proc the answer is
 * "running" (keep what might still be in use).
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    try {
      Deno.statSync("/proc/self");
      return false;
    } catch {
      return true;
    }
  }
}
