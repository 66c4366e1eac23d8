/**
 * What the host gives: Deno's namespace under Deno, nothing in a browser page. Modules that also run in a
 * page (the runtime, autotune) reach Deno only through here, so a missing `Deno` global is a default, not a
 * ReferenceError.
 */

/** Deno's namespace, or undefined in a browser. */
export const denoHost: typeof Deno | undefined = (globalThis as { Deno?: typeof Deno }).Deno;

/** An environment variable; undefined in a page, without env permission, or when unset. */
export function envVar(name: string): string | undefined {
  try {
    return denoHost?.env.get(name);
  } catch {
    return undefined; // no env permission (a restricted run): defaults
  }
}
