/**
 * tfjs-wasm on a shared memory, so that our helper threads (matmul-pool.ts) compute in place on
 * its tensors instead of on copies.
 *
 * tfjs-wasm's single-threaded build defines its own memory, unshared: no other thread can see a
 * tensor, and a helper had to be given copies of its operands and hand back a copy of its rows,
 * which cost about a tenth of a split matmul. The build already declares a maximum size, which
 * is all a shared memory needs besides its flag, so setting one bit of the module's memory
 * section gives the same code on a SharedArrayBuffer. Nothing else changes: plain loads and
 * stores work on shared memory, and growing it keeps its address (helpers stay valid).
 *
 * The bytes are patched while tfjs instantiates its module (withSharedWasmHeap wraps
 * WebAssembly.instantiate and instantiateStreaming for that call only). Where there is no
 * SharedArrayBuffer (a page without cross-origin isolation), or the engine refuses the shared
 * memory (it reserves the whole maximum up front), tfjs starts as it ships (initWasmBackend) and
 * helpers work on copies.
 */

const MEMORY_SECTION = 5;
/** Limits flags: bit 0 says a maximum follows, bit 1 that the memory is shared. */
const HAS_MAXIMUM = 0x01;
const SHARED = 0x02;
const HEADER_BYTES = 8;

/** Reads an unsigned LEB128 number at `at`; returns it and the offset after it. */
function readLeb(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let p = at;
  for (;;) {
    if (p >= bytes.length) throw new Error('shared heap: a WebAssembly module ends inside a number');
    const byte = bytes[p++] as number;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) return { value, next: p };
  }
}

/** Offset of the limits flags of a module's one defined memory, or null when it defines none (or several). */
function memoryLimitsOffset(bytes: Uint8Array): number | null {
  let p = HEADER_BYTES;
  while (p < bytes.length) {
    const id = bytes[p] as number;
    const size = readLeb(bytes, p + 1);
    if (id === MEMORY_SECTION) {
      const count = readLeb(bytes, size.next);
      return count.value === 1 ? count.next : null;
    }
    p = size.next + size.value;
  }
  return null;
}

/**
 * A copy of a WebAssembly module whose one defined memory is declared shared, or null when it
 * cannot be: no memory of its own, or none with a maximum (adding one would resize the section).
 * A module whose memory is shared already comes back as it is.
 */
export function withSharedMemoryDeclared(module: Uint8Array): Uint8Array | null {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (module.length < HEADER_BYTES || magic.some((b, i) => module[i] !== b)) return null;
  const at = memoryLimitsOffset(module);
  if (at === null) return null;
  const flags = module[at] as number;
  if ((flags & HAS_MAXIMUM) === 0) return null;
  if (flags & SHARED) return module;
  const out = module.slice();
  out[at] = flags | SHARED;
  return out;
}

/** True for a memory that other threads can see. */
export function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

function bytesOf(source: BufferSource): Uint8Array {
  return source instanceof Uint8Array ? source
    : ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
      : new Uint8Array(source);
}

/**
 * Runs `init` (the wasm backend's initialisation) with every module instantiated meanwhile given
 * a shared memory where it defines one with a maximum; modules that do not are left alone. Without
 * SharedArrayBuffer it just runs `init`.
 */
export async function withSharedWasmHeap<T>(init: () => Promise<T>): Promise<T> {
  if (typeof SharedArrayBuffer === 'undefined') return init();
  const wasm = WebAssembly as unknown as {
    instantiate: (source: unknown, imports?: WebAssembly.Imports) => Promise<unknown>;
    instantiateStreaming?: (source: Response | PromiseLike<Response>, imports?: WebAssembly.Imports) => Promise<unknown>;
  };
  const { instantiate, instantiateStreaming } = wasm;
  wasm.instantiate = (source, imports) => {
    // A compiled WebAssembly.Module cannot be changed; bytes can.
    if (source instanceof WebAssembly.Module) return instantiate.call(WebAssembly, source, imports);
    const bytes = bytesOf(source as BufferSource);
    return instantiate.call(WebAssembly, withSharedMemoryDeclared(bytes) ?? bytes, imports);
  };
  if (instantiateStreaming) {
    wasm.instantiateStreaming = async (source, imports) => wasm.instantiate(await (await source).arrayBuffer(), imports);
  }
  try {
    return await init();
  } finally {
    wasm.instantiate = instantiate;
    if (instantiateStreaming) wasm.instantiateStreaming = instantiateStreaming;
  }
}

/**
 * Starts the wasm backend (`start`: tf.setBackend('wasm'), and whatever waits for it) on a shared
 * memory where it can, else as tfjs ships it: tfjs-wasm starts afresh after a failed start.
 * Returns start's answer.
 */
export async function initWasmBackend(start: () => Promise<boolean>, shared = true): Promise<boolean> {
  if (shared && typeof SharedArrayBuffer !== 'undefined') {
    const ok = await withSharedWasmHeap(start).catch(() => false);
    if (ok) return true;
  }
  return start();
}
