/**
 * gRPC-web wire format for the fake full node (spec sui-integration.md §8.2): frame = 1 flag byte
 * (0x00 data, 0x80 trailer) + 4-byte big-endian length + payload; `application/grpc-web-text`
 * bodies are base64 (each frame encoded on its own — the client's decoder accepts inner padding).
 * Messages are (de)serialised by the SDK's own protobuf-ts `MessageType`s, so the bytes are real.
 */
import { GrpcTypes } from "@mysten/sui/grpc";
import { fromBase64, toBase64 } from "@mysten/sui/utils";
import type { IMessageType } from "@protobuf-ts/runtime";

/** gRPC status codes (numeric, as sent in `grpc-status`). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
export type StatusName = keyof typeof Status;

/** Thrown by handlers; becomes a trailer-only response (or the trailer of a stream). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface MethodInfo {
  service: string;
  name: string;
  I: IMessageType<object>;
  O: IMessageType<object>;
  serverStreaming: boolean;
}

interface ServiceLike {
  typeName: string;
  methods: { name: string; I: IMessageType<object>; O: IMessageType<object>; serverStreaming?: boolean }[];
}

/** `/<service typeName>/<Method>` → method descriptor, from the SDK's generated `ServiceType`s. */
export const METHODS: Map<string, MethodInfo> = (() => {
  const map = new Map<string, MethodInfo>();
  for (const value of Object.values(GrpcTypes) as unknown[]) {
    const svc = value as Partial<ServiceLike>;
    if (typeof svc?.typeName !== "string" || !Array.isArray(svc.methods)) continue;
    for (const m of svc.methods) {
      map.set(`/${svc.typeName}/${m.name}`, {
        service: svc.typeName,
        name: m.name,
        I: m.I,
        O: m.O,
        serverStreaming: !!m.serverStreaming,
      });
    }
  }
  return map;
})();

export type WireFormat = "text" | "binary";

export function formatOf(contentType: string | null): WireFormat | null {
  if (!contentType) return null;
  if (contentType.startsWith("application/grpc-web-text")) return "text";
  if (contentType.startsWith("application/grpc-web")) return "binary";
  return null;
}

export function contentTypeOf(format: WireFormat): string {
  return format === "text" ? "application/grpc-web-text+proto" : "application/grpc-web+proto";
}

function frame(flag: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flag;
  new DataView(out.buffer).setUint32(1, payload.length, false);
  out.set(payload, 5);
  return out;
}

export function dataFrame(payload: Uint8Array): Uint8Array {
  return frame(0x00, payload);
}

export function trailerFrame(code: number, message = ""): Uint8Array {
  let text = `grpc-status:${code}\r\n`;
  if (message) text += `grpc-message:${encodeURIComponent(message)}\r\n`;
  return frame(0x80, new TextEncoder().encode(text));
}

/** Encodes bytes for the wire in the request's format. */
export function wire(format: WireFormat, bytes: Uint8Array): Uint8Array {
  return format === "text" ? new TextEncoder().encode(toBase64(bytes)) : bytes;
}

/** Reads the single data frame of a request body (grpc-web requests are unary on the wire). */
export function readRequestMessage(format: WireFormat, body: Uint8Array): Uint8Array {
  const bytes = format === "text" ? fromBase64(new TextDecoder().decode(body).replace(/\s+/g, "")) : body;
  if (bytes.length < 5 || bytes[0] !== 0x00) throw new GrpcError(Status.INVALID_ARGUMENT, "malformed grpc-web request frame");
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1, false);
  if (bytes.length < 5 + len) throw new GrpcError(Status.INVALID_ARGUMENT, "truncated grpc-web request frame");
  return bytes.subarray(5, 5 + len);
}
