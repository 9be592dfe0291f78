/**
 * Minimal ONNX graph builder over `onnx-proto` (protobufjs static module of onnx.proto). No npm
 * package does ONNX shape inference or checking, so builders here stay explicit: every node gets a
 * unique output name, initializers are stored as raw little-endian bytes, and the caller validates
 * the result by loading it into ONNX Runtime.
 */
import { onnx } from "onnx-proto";
import { toFloat16Array } from "./float16.ts";

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { graph: onnx.IGraphProto };
/** A graph input/output dimension: fixed integer or symbolic name. */
export type Dim = number | string;
export type ElemType = "float32" | "float16" | "int64" | "int32" | "uint8" | "bool";

const ELEM: Record<ElemType, number> = { float32: DT.FLOAT, float16: DT.FLOAT16, int64: DT.INT64, int32: DT.INT32, uint8: DT.UINT8, bool: DT.BOOL };
/** ONNX TensorProto data type number, e.g. for Cast's `to`. */
export const onnxType = (t: ElemType): number => ELEM[t];

/** Initializer payloads; a Uint16Array holds fp16 bit patterns. */
export type TensorData = Float32Array | Uint16Array | BigInt64Array | Uint8Array;

function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function attribute(name: string, value: AttrValue): onnx.IAttributeProto {
  if (typeof value === "string") return { name, type: AT.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AT.INTS, ints: value };
  if (typeof value === "number") return { name, type: AT.INT, i: value };
  if ("float" in value) return { name, type: AT.FLOAT, f: value.float };
  if ("graph" in value) return { name, type: AT.GRAPH, g: value.graph };
  return { name, type: AT.FLOATS, floats: value.floats };
}

function valueInfo(name: string, elem: ElemType, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  /**
   * With a sink, initializers of at least EXTERNAL_MIN_BYTES are handed to it the moment they are
   * added and only their location stays in the graph, so a converter holds one tensor at a time.
   */
  constructor(private readonly sink?: ExternalSink, private readonly scope = "") {}

  /** A fresh tensor name with a readable prefix (and the builder's scope, unique across subgraphs). */
  fresh(prefix: string): string {
    return `${this.scope}${prefix}_${this.counter++}`;
  }

  /**
   * The body of a control-flow node (Scan, Loop): its own nodes, inputs and outputs, names under
   * `scope` so they never collide with the outer graph's, whose values it may read by name.
   */
  subgraph(scope: string): GraphBuilder {
    return new GraphBuilder(undefined, `${this.scope}${scope}`);
  }

  /** This builder as a GraphProto, for a `{ graph }` attribute. */
  asGraph(name: string): onnx.IGraphProto {
    return { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
  }

  input(name: string, elem: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, elem, dims));
    return name;
  }

  output(name: string, elem: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, elem, dims));
  }

  initializer(name: string, data: TensorData, dims: number[]): string {
    const dataType =
      data instanceof Float32Array ? DT.FLOAT : data instanceof Uint16Array ? DT.FLOAT16 : data instanceof BigInt64Array ? DT.INT64 : DT.UINT8;
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${name}: ${data.length} values for dims [${dims}]`);
    const raw = bytesOf(data);
    if (this.sink && raw.byteLength >= EXTERNAL_MIN_BYTES) {
      const { location, offset } = this.sink.write(raw);
      this.initializers.push({
        name, dims, dataType,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: location },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(raw.byteLength) },
        ],
      });
      return name;
    }
    this.initializers.push({ name, dims, dataType, rawData: raw });
    return name;
  }

  /** Shared int64 constant (used for shapes, axes, indices). */
  i64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join("x")}:${values.join(",")}`;
    let name = this.constCache.get(key);
    if (!name) {
      name = this.initializer(this.fresh("c_i64"), BigInt64Array.from(values.map(BigInt)), dims);
      this.constCache.set(key, name);
    }
    return name;
  }

  /** Shared float constant in fp32 or fp16. */
  float(values: number[], dims: number[] = [values.length], type: "float32" | "float16" = "float32"): string {
    const key = `${type}:${dims.join("x")}:${values.join(",")}`;
    let name = this.constCache.get(key);
    if (!name) {
      const data = type === "float32" ? Float32Array.from(values) : toFloat16Array(Float32Array.from(values));
      name = this.initializer(this.fresh(`c_${type}`), data, dims);
      this.constCache.set(key, name);
    }
    return name;
  }

  /** Adds a node and returns its first output name (pass `outputs` to name them explicitly). */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    opts: { outputs?: string[]; domain?: string; nOutputs?: number } = {},
  ): string {
    const outputs =
      opts.outputs ?? Array.from({ length: opts.nOutputs ?? 1 }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      domain: opts.domain ?? "",
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs[0]!;
  }

  /**
   * Serialises to ONNX (IR 8, ai.onnx opset 17, plus com.microsoft 1 when used). With
   * `externalLocation`, initializers of at least EXTERNAL_MIN_BYTES go to a side file at that
   * location (relative to the model file, as ONNX Runtime resolves it), keeping the protobuf far
   * below its 2 GB limit; the caller writes `external.parts` back to back.
   */
  encode(graphName: string, producer: string, externalLocation?: string): EncodedOnnx {
    const domains = new Set(this.nodes.map((n) => n.domain ?? ""));
    const opsetImport: onnx.IOperatorSetIdProto[] = [{ domain: "", version: 17 }];
    if (domains.has("com.microsoft")) opsetImport.push({ domain: "com.microsoft", version: 1 });
    let initializer = this.initializers;
    let external: EncodedOnnx["external"];
    if (externalLocation !== undefined) {
      const parts: Uint8Array[] = [];
      let offset = 0;
      initializer = this.initializers.map((t) => {
        const raw = t.rawData;
        if (!raw || raw.byteLength < EXTERNAL_MIN_BYTES) return t;
        const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
        if (pad) parts.push(new Uint8Array(pad));
        offset += pad;
        parts.push(raw);
        const entry: onnx.ITensorProto = {
          ...t,
          rawData: null,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: "location", value: externalLocation },
            { key: "offset", value: String(offset) },
            { key: "length", value: String(raw.byteLength) },
          ],
        };
        offset += raw.byteLength;
        return entry;
      });
      external = { location: externalLocation, parts, bytes: offset };
    }
    const model: onnx.IModelProto = {
      irVersion: 8,
      producerName: producer,
      opsetImport,
      graph: { name: graphName, node: this.nodes, initializer, input: this.inputs, output: this.outputs },
    };
    return { model: onnx.ModelProto.encode(model).finish(), ...(external ? { external } : {}) };
  }
}

/** Tensors smaller than this stay inline even in external-data mode (shape constants, norms). */
const EXTERNAL_MIN_BYTES = 1024;
/** Offsets aligned so ONNX Runtime can mmap/read tensors without unaligned copies. */
export const EXTERNAL_ALIGN = 64;

/** Receives initializer bytes as a graph is built; says where (file, offset) it put them. */
export interface ExternalSink {
  write(bytes: Uint8Array): { location: string; offset: number };
}

export interface EncodedOnnx {
  model: Uint8Array;
  external?: { location: string; parts: Uint8Array[]; bytes: number };
}
