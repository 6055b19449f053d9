// An ONNX file's metadata_props, read from its bytes.
//
// The generator's contract (export/contract.py) lives in the file's metadata_props, which
// onnxruntime-web does not expose (microsoft/onnxruntime issue 16547), so the page reads
// them here: a ModelProto is a protobuf message whose field 14 repeats
// StringStringEntryProto {1: key, 2: value}. Only the top level is walked; every other
// field (the graph, the weights) is skipped by its length, not parsed.

const METADATA_PROPS = 14;
const KEY = 1;
const VALUE = 2;

export class NotOnnxError extends Error {}

export function onnxMetadata(buffer) {
  const bytes = new Uint8Array(buffer);
  const text = new TextDecoder();
  let position = 0;

  function varint() {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (position >= bytes.length) throw new NotOnnxError("the file ends inside a field");
      const byte = bytes[position++];
      value += (byte & 0x7f) * scale;
      if (!(byte & 0x80)) return value;
      scale *= 128;
      if (scale > 2 ** 63) throw new NotOnnxError("a field's number is too long");
    }
  }

  function skip(wireType) {
    if (wireType === 0) varint();
    else if (wireType === 1) position += 8;
    else if (wireType === 2) {
      const length = varint(); // read before adding: `position += varint()` would lose it
      position += length;
    }
    else if (wireType === 5) position += 4;
    else throw new NotOnnxError(`wire type ${wireType} is not a protobuf field's`);
    if (position > bytes.length) throw new NotOnnxError("a field runs past the file's end");
  }

  function entry(end) {
    let key = "";
    let value = "";
    while (position < end) {
      const tag = varint();
      if ((tag & 7) !== 2) { skip(tag & 7); continue; }
      const length = varint();
      const string = text.decode(bytes.subarray(position, position + length));
      position += length;
      if (Math.floor(tag / 8) === KEY) key = string;
      else if (Math.floor(tag / 8) === VALUE) value = string;
    }
    return [key, value];
  }

  const properties = {};
  while (position < bytes.length) {
    const tag = varint();
    if (Math.floor(tag / 8) === METADATA_PROPS && (tag & 7) === 2) {
      const length = varint();
      const end = position + length;
      const [key, value] = entry(end);
      properties[key] = value;
      position = end;
    } else {
      skip(tag & 7);
    }
  }
  return properties;
}
