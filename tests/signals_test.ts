/**
 * Signals, as users send them: Ctrl-C (SIGINT) and SIGTERM (timeout, schedulers, containers) both save a
 * checkpoint and stop, with exit status 130 / 143 (the run did not finish); `kill -9` of `deno task` does
 * not leave the trainer running as an orphan.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, TINY, withTempDir } from "./cli.ts";

const LONG = [...TINY, "--max-steps", "100000", "--save-total-limit", "0"];

async function waitFor(what: string, ok: () => Promise<boolean>, seconds = 60): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const logLines = (path: string) =>
  Deno.readTextFile(path).then((t) => t.split("\n").filter((l) => l.trim()).length, () => 0);

/** Running (not exited, not a zombie waiting to be reaped). */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  Deno.test({
    name: `${signal} saves a checkpoint, stops, and exits ${code}`,
    ignore: Deno.build.os === "windows",
    fn: async () => {
      await withTempDir(async (dir) => {
        const out = join(dir, "run");
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", join(ROOT, "tasks/train.ts"), ...LONG, "--output", out],
          cwd: ROOT,
          stdout: "null",
          stderr: "piped",
          env: { HF_HUB_OFFLINE: "1", NO_COLOR: "1" },
        }).spawn();
        const stderr = new Response(child.stderr).text();
        await waitFor("the first step", async () => (await logLines(join(out, "log.jsonl"))) >= 1);
        child.kill(signal);
        const status = await child.status;
        const err = await stderr;
        assert.equal(status.code, code, err);
        assert.match(err, new RegExp(`interrupted \\(${signal}\\): saving a checkpoint`));
        assert.doesNotMatch(err, /^error:|^\s+at /m);
        const steps = await logLines(join(out, "log.jsonl"));
        const state = JSON.parse(
          await Deno.readTextFile(join(out, `checkpoint-${steps}`, "trainer_state.json")),
        );
        assert.equal(state.trainer.step, steps, "the checkpoint is at the last logged step");
        assert.ok(!(await Deno.stat(join(out, ".train.lock")).then(() => true, () => false)));
      });
    },
  });
}

Deno.test({
  name: "kill -9 of `deno task train`: the trainer it started does not run on as an orphan",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "run");
      const task = new Deno.Command(Deno.execPath(), {
        args: ["task", "train", ...LONG, "--output", out],
        cwd: ROOT,
        stdout: "null",
        stderr: "null",
        env: { HF_HUB_OFFLINE: "1", NO_COLOR: "1" },
      }).spawn();
      let trainer = 0;
      try {
        await waitFor("the first step", async () => (await logLines(join(out, "log.jsonl"))) >= 1);
        const children = (await Deno.readTextFile(`/proc/${task.pid}/task/${task.pid}/children`)).trim();
        trainer = Number(children.split(/\s+/)[0]);
        assert.ok(trainer > 0 && running(trainer), `deno task's child: "${children}"`);
        task.kill("SIGKILL");
        await task.status;
        await waitFor("the orphaned trainer to exit", () => Promise.resolve(!running(trainer)), 15);
      } finally {
        if (trainer > 0 && running(trainer)) Deno.kill(trainer, "SIGKILL");
        try {
          task.kill("SIGKILL");
        } catch { /* already gone */ }
        await task.status;
      }
    });
  },
});
