// Binary messages from Python (scvi_viz/arrays.py: pack_arrays): a uint32 header length, a
// JSON header naming each array's dtype, shape and offset, and the arrays, 8-byte aligned.
// Put before the components that read them (components/__init__.py: script).
const TYPES = { f4: Float32Array, f8: Float64Array, i4: Int32Array, u1: Uint8Array };

function toBuffer(data) {
  if (data instanceof ArrayBuffer) return data;
  if (ArrayBuffer.isView(data)) return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  if (typeof data === "string") return Uint8Array.from(atob(data), (c) => c.charCodeAt(0)).buffer;
  throw new Error("scvi-viz: a decoder message must be bytes");
}

function readHeader(buffer) {
  const size = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, size)));
  return { header, start: 4 + size + ((8 - ((4 + size) % 8)) % 8) };
}

// {header, arrays}: typed arrays viewing the message in place (buffer must start at offset 0).
function readMessage(buffer) {
  const { header, start } = readHeader(buffer);
  const arrays = {};
  for (const a of header.arrays) {
    const n = a.shape.reduce((x, y) => x * y, 1);
    arrays[a.name] = new TYPES[a.dtype](buffer, start + a.offset, n);
  }
  return { header, arrays };
}

