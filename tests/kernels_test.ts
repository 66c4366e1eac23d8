/**
 * Every kernel the project can generate (kernels/catalog.ts) compiles on this adapter and stays within the
 * WebGPU specification's default limits: 256 invocations per workgroup, 16 KiB of workgroup memory, 8 storage
 * buffers per stage. So every kernel runs on every adapter and browser, not just this one.
 */
import assert from "node:assert/strict";
import { kernelCatalog, kernelNeeds } from "../kernels/catalog.ts";
import { gpuReady } from "./helpers.ts";
import { initGpu, Tensor } from "../autograd/mod.ts";
import { unaryKernel } from "../kernels/elementwise.ts";

const DEFAULTS = { invocations: 256, workgroupBytes: 16384, storageBuffers: 8 };

Deno.test("kernel catalog: every kernel within the WebGPU default limits", () => {
  const catalog = kernelCatalog();
  assert.ok(catalog.length > 100, `${catalog.length} kernels`);
  for (const k of catalog) {
    const needs = kernelNeeds(k.wgsl);
    assert.ok(needs.invocations <= DEFAULTS.invocations, `${k.name}: ${needs.invocations} invocations`);
    assert.ok(
      needs.workgroupBytes <= DEFAULTS.workgroupBytes,
      `${k.name}: ${needs.workgroupBytes} B of workgroup memory`,
    );
    assert.ok(
      needs.storageBuffers <= DEFAULTS.storageBuffers,
      `${k.name}: ${needs.storageBuffers} storage buffers`,
    );
  }
});

Deno.test("kernel catalog: every kernel compiles on this adapter (f16 ones where it has shader-f16)", async () => {
  const rt = await gpuReady;
  const device = rt.device;
  const failures: string[] = [];
  let compiled = 0;
  for (const k of kernelCatalog()) {
    if (k.f16 && !rt.summary.shaderF16) continue;
    device.pushErrorScope("validation");
    device.createComputePipeline({
      layout: "auto",
      compute: { module: device.createShaderModule({ code: k.wgsl, label: k.name }), entryPoint: "main" },
      label: k.name,
    });
    const error = await device.popErrorScope();
    if (error) failures.push(`${k.name}: ${error.message.split("\n")[0]}`);
    compiled++;
  }
  assert.deepEqual(failures, []);
  if (!rt.summary.shaderF16) {
    console.warn(`  f16 kernels not compiled: the adapter has no shader-f16 (${compiled} compiled)`);
  }
  assert.deepEqual(rt.takeErrors(), []);
});

Deno.test("launch checks a kernel's named contract: missing, unknown or ill-typed names throw, nothing recorded", async () => {
  const rt = await initGpu();
  const x = Tensor.fromArray([1, 2, 3], [3]), y = new Tensor([3]);
  const spec = unaryKernel("scale");
  const launch = (buffers: Record<string, Tensor>, uniforms: Record<string, number>) =>
    rt.launch(spec, {
      buffers: Object.fromEntries(Object.entries(buffers).map(([k, t]) => [k, t.binding])),
      uniforms,
      count: { threads: 3 },
      label: "scale",
    });
  const before = rt.dispatches;
  assert.throws(() => launch({ X: x }, { n: 3, s: 2 }), /scale: buffers do not match the kernel's \(no Y\)/);
  assert.throws(() => launch({ X: x, Y: y, Z: y }, { n: 3, s: 2 }), /buffers .*\(unknown Z\)/);
  assert.throws(() => launch({ X: x, Y: y }, { n: 3 }), /uniforms .*\(no s\)/);
  assert.throws(() => launch({ X: x, Y: y }, { n: 2.5, s: 2 }), /uniform n \(u32\) cannot be 2.5/);
  assert.equal(rt.dispatches, before);
  launch({ X: x, Y: y }, { n: 3, s: 2 });
  assert.deepEqual(Array.from(await y.toArray()), [2, 4, 6]);
  x.dispose();
  y.dispose();
});
