/**
 * The exit abort, without any of our code: `deno test` runs each test file on a thread of its own, and a
 * file that merely opens a WebGPU device makes the process abort now and then after the summary, as glibc
 * finds its heap corrupted ("corrupted size vs. prev_size in fastbins", "double free or corruption
 * (fasttop)", exit status 134). With Deno's default backends wgpu also starts its OpenGL backend, which loads
 * libglvnd's libEGL and Mesa's EGL on that thread; the thread's EGL state is freed as the thread ends, while
 * the main thread is already running the libraries' destructors in exit(). The same teardown race is
 * gfx-rs/wgpu#4285 (libglvnd's DestroyThreadState freeing an invalid pointer at thread exit, lavapipe) and
 * gfx-rs/wgpu#7655 (a wgpu instance in a Rust test, a crash in start_thread at exit).
 *
 * Measured on the 2-core dev VM (Deno 2.9.6, Mesa 25.0.7 lavapipe), load average 4-7:
 *   for i in $(seq 300); do deno test -A scripts/exit_abort_repro.ts >/dev/null 2>&1; echo $?; done | sort | uniq -c
 * 3 of 300 runs exit 134; with DENO_WEBGPU_BACKEND=vulkan (Vulkan only, what autograd/backend.ts selects),
 * 0 of 300. On an idle machine the race is rarer (0 of 400 at load 3).
 */
Deno.test("open a WebGPU device", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return;
  const device = await adapter.requestDevice();
  await device.queue.onSubmittedWorkDone();
});
