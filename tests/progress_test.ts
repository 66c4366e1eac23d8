import assert from "node:assert/strict";
import { formatDuration, formatLr, ProgressReporter } from "../train/progress.ts";

/** A reporter on a fake clock whose output is captured. */
function harness(opts: Partial<ConstructorParameters<typeof ProgressReporter>[0]> & { totalSteps: number }) {
  let t = 0;
  let out = "";
  const rep = new ProgressReporter({
    isTerminal: false,
    write: (s) => (out += s),
    now: () => t,
    ...opts,
  });
  return {
    rep,
    advance: (ms: number) => (t += ms),
    out: () => out,
    lines: () => out.split("\n").filter((l) => l.length > 0),
  };
}

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

Deno.test("formatDuration and formatLr", () => {
  assert.equal(formatDuration(0), "0:00:00");
  assert.equal(formatDuration(631), "0:10:31");
  assert.equal(formatDuration(3600 * 12 + 61.4), "12:01:01");
  assert.equal(formatDuration(NaN), "-:--:--");
  assert.equal(formatDuration(Infinity), "-:--:--");
  assert.equal(formatLr(1.6e-5), "1.6e-05");
  assert.equal(formatLr(2e-3), "2.0e-03");
  assert.equal(formatLr(0), "0");
  assert.equal(formatLr(1.5e-10), "1.5e-10");
});

Deno.test("progress: tokens/s, steps/s and ETA at a constant rate", () => {
  const h = harness({ totalSteps: 100 });
  for (let step = 1; step <= 40; step++) {
    h.advance(500); // 2 steps/s
    h.rep.update({ step, epoch: step / 100, loss: 1, lr: 1e-5, tokens: 1000 });
  }
  const s = h.rep.stats();
  close(s.stepsPerSecond, 2);
  close(s.tokensPerSecond, 2000);
  close(s.elapsedSeconds, 20);
  close(s.etaSeconds, 60 / 2);
});

Deno.test("progress: the rate window forgets slow warmup steps", () => {
  const h = harness({ totalSteps: 100, rateWindow: 10 });
  h.advance(30_000); // a slow first step (compilation)
  h.rep.update({ step: 1, epoch: 0, loss: 1, lr: 1e-5, tokens: 500 });
  for (let step = 2; step <= 30; step++) {
    h.advance(100);
    h.rep.update({ step, epoch: 0, loss: 1, lr: 1e-5, tokens: 500 });
  }
  const s = h.rep.stats();
  close(s.stepsPerSecond, 10);
  close(s.tokensPerSecond, 5000);
  close(s.etaSeconds, 7);
});

Deno.test("progress: a resumed run counts rates from startStep", () => {
  const h = harness({ totalSteps: 1000, startStep: 900 });
  h.advance(1000);
  h.rep.update({ step: 901, epoch: 2.7, loss: 0.3, lr: 1e-6, tokens: 100 });
  const s = h.rep.stats();
  close(s.stepsPerSecond, 1);
  close(s.etaSeconds, 99);
  assert.match(h.lines()[0], /^step {2}901\/1000 {2}epoch 2\.70 /);
});

Deno.test("progress: loss smoothing is a bias-corrected EMA that skips NaN", () => {
  const h = harness({ totalSteps: 100, smoothing: 0.9 });
  h.rep.update({ step: 1, epoch: 0, loss: 2, lr: 0, tokens: 0 });
  close(h.rep.stats().smoothedLoss, 2); // bias correction: the first value is returned as is
  h.rep.update({ step: 2, epoch: 0, loss: 1, lr: 0, tokens: 0 });
  // ema = 0.9*0.2 + 0.1*1 = 0.28; / (1 - 0.81) = 1.4736...
  close(h.rep.stats().smoothedLoss, 0.28 / 0.19);
  h.rep.update({ step: 3, epoch: 0, loss: NaN, lr: 0, tokens: 0 });
  close(h.rep.stats().smoothedLoss, 0.28 / 0.19);
});

Deno.test("progress: plain mode prints the first step, every N steps, the last, and the window mean", () => {
  const h = harness({ totalSteps: 500, every: 100 });
  for (let step = 1; step <= 500; step++) {
    h.advance(100);
    h.rep.update({ step, epoch: step / 250, loss: step <= 100 ? 1 : 0.5, lr: 2e-5, tokens: 100 });
  }
  h.rep.finish();
  const lines = h.lines();
  const steps = lines.map((l) => Number(/^step +(\d+)\//.exec(l)![1]));
  assert.deepEqual(steps, [1, 100, 200, 300, 400, 500]);
  assert.equal(
    lines[1],
    "step 100/500  epoch 0.40  loss 1.0000  lr 2.0e-05  1000 tok/s  elapsed 0:00:10  eta 0:00:40",
  );
  assert.match(lines[2], /loss 0\.5000/);
  assert.match(lines[5], /eta 0:00:00$/);
  assert.ok(!h.out().includes("\r"));
});

Deno.test("progress: plain mode default period gives ~30 lines and a line at least every 30 s", () => {
  const h = harness({ totalSteps: 3000 });
  assert.equal(h.rep.every, 100);
  for (let step = 1; step <= 3000; step++) {
    h.advance(10);
    h.rep.update({ step, epoch: 0, loss: 1, lr: 1e-5, tokens: 10 });
  }
  const n = h.lines().length;
  assert.ok(n >= 20 && n <= 50, `${n} lines`);

  const slow = harness({ totalSteps: 1000, every: 100 });
  for (let step = 1; step <= 10; step++) {
    slow.advance(12_000);
    slow.rep.update({ step, epoch: 0, loss: 1, lr: 1e-5, tokens: 10 });
  }
  // step 1 (first), then every 30 s: steps 4 (36 s after step 1... 3 updates * 12 s), 7, 10.
  assert.deepEqual(slow.lines().map((l) => Number(/^step +(\d+)\//.exec(l)![1])), [1, 4, 7, 10]);
});

Deno.test("progress: terminal mode redraws one line and messages do not corrupt it", () => {
  const h = harness({ totalSteps: 10, isTerminal: true, columns: 120, minRedrawMs: 0 });
  h.advance(1000);
  h.rep.update({ step: 1, epoch: 0.1, loss: 0.7, lr: 1e-5, tokens: 256 });
  h.advance(1000);
  h.rep.update({ step: 2, epoch: 0.2, loss: 0.6, lr: 1e-5, tokens: 256 });
  h.rep.message("eval: accuracy 0.8\n");
  h.advance(1000);
  h.rep.update({ step: 3, epoch: 0.3, loss: 0.5, lr: 1e-5, tokens: 256 });
  h.rep.finish();
  const out = h.out();
  // Every draw clears the line first; the message sits on its own cleared line, then the bar comes back.
  assert.equal(out.split("\n").length, 3); // message line, final bar line, trailing empty
  const [msgPart, barPart, tail] = out.split("\n");
  assert.ok(msgPart.endsWith("\r\x1b[2Keval: accuracy 0.8"), JSON.stringify(msgPart));
  assert.equal(tail, "");
  const frames = barPart.split("\r\x1b[2K").filter((f) => f.length > 0);
  // Redraw after the message (step 2), step 3, then finish's final draw.
  assert.equal(frames.length, 3);
  assert.match(frames[0], /^ 2\/10 \|/);
  assert.match(frames[2], /^ 3\/10 \|███████▎ {16}\| {2}30%/);
  assert.match(frames[2], /256 tok\/s {2}0:00:03<0:00:07$/);
  for (const f of frames) assert.ok(!f.includes("\n") && [...f].length <= 119);
});

Deno.test("progress: terminal mode throttles redraws, cuts to the width, and messages before a bar are plain", () => {
  const h = harness({ totalSteps: 100, isTerminal: true, columns: 40, minRedrawMs: 100 });
  h.rep.message("starting");
  assert.equal(h.out(), "starting\n");
  for (let step = 1; step <= 100; step++) {
    h.advance(10);
    h.rep.update({ step, epoch: 0, loss: 1, lr: 1e-5, tokens: 1 });
  }
  const frames = h.out().split("\r\x1b[2K").slice(1);
  assert.ok(frames.length >= 10 && frames.length <= 12, `${frames.length} frames`);
  assert.match(frames[frames.length - 1], /^100\/100 /);
  for (const f of frames) assert.ok([...f].length <= 39, f);
  h.rep.finish();
  h.rep.finish(); // idempotent
  assert.ok(h.out().endsWith("\n") && !h.out().endsWith("\n\n"));
});
