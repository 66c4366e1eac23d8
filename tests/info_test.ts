/** `deno task info`: the adapter report, and the one-line error when there is no adapter at all. */
import assert from "node:assert/strict";

async function info(env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/info.ts"],
    cwd: new URL("..", import.meta.url).pathname,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("info: prints the adapter, whether it is a fallback, shader-f16 and the limits", async () => {
  const r = await info();
  assert.equal(r.code, 0, r.stderr);
  for (const line of [/^adapter: /m, /^fallback: /m, /^shader-f16: /m, /maxStorageBufferBindingSize/]) {
    assert.match(r.stdout, line);
  }
});

// On Linux, asking wgpu for the D3D12 backend leaves it with no adapter: the path a machine without any
// driver takes.
Deno.test({
  name: "info: no adapter is a one-line error that says how to get one, exit 1, no stack trace",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await info({ DENO_WEBGPU_BACKEND: "dx12" });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /no WebGPU adapter found: .*mesa-vulkan-drivers/);
    assert.equal(r.stdout, "");
  },
});
