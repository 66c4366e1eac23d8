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
