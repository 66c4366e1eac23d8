/**
 * An error caused by the user's input (a file, a flag, a checkpoint). Tasks print its message as one line
 * and exit non-zero, with no stack trace. Everything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UserError";
  }
}

/**
 * The GPU failed or refused the work: a WebGPU validation or out-of-memory error, a lost device, or a
 * limit of the adapter that an op cannot work within. Always fatal: tasks print its one-line message and
 * exit non-zero, and nothing is written from the state it leaves behind.
 */
export class DeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeviceError";
  }
}

/** The first line of an error's message (or of any thrown value's text), for a one-line report. */
export function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split("\n")[0];
}

/** Text safe to print on one line: control characters and stray bytes shown as "?", at most 120 characters. */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, "?");
  return clean.length > 120 ? clean.slice(0, 117) + "..." : clean;
}
