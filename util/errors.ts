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
