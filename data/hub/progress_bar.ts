/** Download progress on stderr. */

/** One line on stderr, redrawn at most ten times a second on a terminal; start/end lines otherwise. */
export class ProgressBar {
  private readonly tty: boolean;
  private readonly started = performance.now();
  private lastDraw = 0;
  private received: number;
  private readonly encoder = new TextEncoder();

  constructor(
    private readonly label: string,
    private readonly total: number | null,
    private readonly from: number,
  ) {
    this.tty = Deno.stderr.isTerminal();
    this.received = from;
    if (!this.tty) {
      const size = total !== null ? ` (${formatBytes(total)})` : "";
      const resume = from > 0 ? `, resuming at ${formatBytes(from)}` : "";
      this.write(`downloading ${label}${size}${resume}\n`);
    }
  }

  update(received: number): void {
    this.received = received;
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.draw(received);
  }

  end(ok: boolean): void {
    if (this.tty) {
      this.draw(this.received);
      this.write("\n");
    } else if (ok) this.write(`downloaded ${this.label}\n`);
  }

  private draw(received: number): void {
    const seconds = Math.max((performance.now() - this.started) / 1000, 1e-3);
    const rate = `${formatBytes((received - this.from) / seconds)}/s`;
    if (this.total === null || this.total <= 0) {
      this.write(`\r${this.label} ${formatBytes(received)} ${rate}\x1b[K`);
      return;
    }
    const fraction = Math.min(received / this.total, 1);
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = "#".repeat(filled) + ".".repeat(width - filled);
    const pct = (fraction * 100).toFixed(0).padStart(3);
    this.write(
      `\r${this.label} [${bar}] ${pct}% ${formatBytes(received)}/${formatBytes(this.total)} ${rate}\x1b[K`,
    );
  }

  private write(text: string): void {
    Deno.stderr.writeSync(this.encoder.encode(text));
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n.toFixed(0)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
