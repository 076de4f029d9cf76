import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { initWasmBackend, isSharedMemory, withSharedMemoryDeclared, withSharedWasmHeap } from './shared-heap';

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
/** Exports memory 0 as "memory". */
const EXPORT_MEMORY = [0x07, 0x0a, 0x01, 0x06, ...Array.from('memory', (c) => c.charCodeAt(0)), 0x02, 0x00];
/** A module that defines one memory of 1 page, at most 2, and exports it. */
const WITH_MAXIMUM = new Uint8Array([...HEADER, 0x05, 0x04, 0x01, 0x01, 0x01, 0x02, ...EXPORT_MEMORY]);
/** The same without a maximum. */
const WITHOUT_MAXIMUM = new Uint8Array([...HEADER, 0x05, 0x03, 0x01, 0x00, 0x01, ...EXPORT_MEMORY]);
/** tfjs-wasm's SIMD build, which the lab and the CLI run. */
const TFJS_WASM = new Uint8Array(readFileSync(new URL('../../../node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm', import.meta.url)));

async function exportedMemory(bytes: Uint8Array): Promise<WebAssembly.Memory> {
  const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>);
  return instance.exports.memory as WebAssembly.Memory;
}

describe('tfjs-wasm on a shared memory', () => {
  test('a module with a maximum gets a shared memory, by one flag bit; the input is left as it was', async () => {
    expect(isSharedMemory(await exportedMemory(WITH_MAXIMUM))).toBe(false);
    const patched = withSharedMemoryDeclared(WITH_MAXIMUM) as Uint8Array;
    expect(Array.from(patched).filter((b, i) => b !== WITH_MAXIMUM[i])).toEqual([0x03]);
    const memory = await exportedMemory(patched);
    expect(isSharedMemory(memory)).toBe(true);
    expect(memory.buffer.byteLength).toBe(65536);
    // Declared shared already: returned as it is.
    expect(withSharedMemoryDeclared(patched)).toBe(patched);
  });

  test("tfjs-wasm's build: one byte differs and the module still validates", () => {
    const patched = withSharedMemoryDeclared(TFJS_WASM) as Uint8Array;
    expect(patched).not.toBeNull();
    expect(Array.from(patched).filter((b, i) => b !== TFJS_WASM[i]).length).toBe(1);
    expect(WebAssembly.validate(patched as Uint8Array<ArrayBuffer>)).toBe(true);
  });

  test('what cannot be patched is refused with null: no maximum, no memory of its own, not WebAssembly', () => {
    expect(withSharedMemoryDeclared(WITHOUT_MAXIMUM)).toBeNull();
    expect(withSharedMemoryDeclared(new Uint8Array(HEADER))).toBeNull();
    expect(withSharedMemoryDeclared(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))).toBeNull();
  });

  test('withSharedWasmHeap patches what is instantiated during the call only, bytes or a stream', async () => {
    const [inside, streamed] = await withSharedWasmHeap(async () => [
      await exportedMemory(WITH_MAXIMUM),
      ((await WebAssembly.instantiateStreaming(new Response(WITH_MAXIMUM, { headers: { 'Content-Type': 'application/wasm' } }))).instance.exports.memory as WebAssembly.Memory),
    ]);
    expect(isSharedMemory(inside as WebAssembly.Memory)).toBe(true);
    expect(isSharedMemory(streamed as WebAssembly.Memory)).toBe(true);
    expect(isSharedMemory(await exportedMemory(WITH_MAXIMUM))).toBe(false);
    // Restored after a failure too.
    await expect(withSharedWasmHeap(() => Promise.reject(new Error('init failed')))).rejects.toThrow('init failed');
    expect(isSharedMemory(await exportedMemory(WITH_MAXIMUM))).toBe(false);
  });

  test('initWasmBackend starts again as shipped when the shared start fails, and not at all shared when told so', async () => {
    const starts: boolean[] = [];
    const failShared = async (): Promise<boolean> => {
      const shared = isSharedMemory(await exportedMemory(WITH_MAXIMUM));
      starts.push(shared);
      return !shared;
    };
    expect(await initWasmBackend(failShared)).toBe(true);
    expect(starts).toEqual([true, false]);
    starts.length = 0;
    expect(await initWasmBackend(failShared, false)).toBe(true);
    expect(starts).toEqual([false]);
  });
});
