/**
 * Field masks as a real full node applies them: a response only carries the fields named in the
 * request's `read_mask` (snake_case paths, dotted for nesting), or the method's documented default.
 * Faithfulness matters here: code that reads a field it never asked for works against a lenient
 * fake and silently gets `undefined` from a real node.
 */
import type { IMessageType } from "@protobuf-ts/runtime";

type Tree = Map<string, Tree | true>;
type Obj = Record<string, unknown>;

interface FieldLike {
  name: string;
  localName: string;
  kind: string;
  oneof?: string;
  repeat?: number;
  T?: () => IMessageType<object>;
}

function tree(paths: readonly string[]): Tree {
  const root: Tree = new Map();
  for (const p of paths) {
    let node = root;
    const parts = p.split(".");
    parts.forEach((part, i) => {
      if (node.get(part) === true) return; // a shorter path already selects everything below
      if (i === parts.length - 1) node.set(part, true);
      else {
        if (!node.has(part)) node.set(part, new Map());
        node = node.get(part) as Tree;
      }
    });
  }
  return root;
}

function prune(type: IMessageType<object>, msg: Obj, sel: Tree): Obj {
  const out = type.create() as Obj;
  for (const f of type.fields as readonly FieldLike[]) {
    const node = sel.get(f.name);
    if (!node) continue;
    const holder = f.oneof ? (msg[f.oneof] as Obj | undefined) : msg;
    if (f.oneof && holder?.oneofKind !== f.localName) continue;
    let value = holder?.[f.localName];
    if (value === undefined) continue;
    if (node !== true && f.kind === "message" && f.T) {
      const inner = f.T();
      value = Array.isArray(value) ? value.map((v) => prune(inner, v as Obj, node)) : prune(inner, value as Obj, node);
    }
    if (f.oneof) out[f.oneof] = { oneofKind: f.localName, [f.localName]: value };
    else out[f.localName] = value;
  }
  return out;
}

/** `msg` reduced to `mask.paths`, or to `dflt` when the request carried no mask. */
export function applyMask<T extends object>(type: IMessageType<T>, msg: T, mask: { paths: string[] } | undefined, dflt: readonly string[] | null): T {
  const paths = mask?.paths.length ? mask.paths : dflt;
  if (!paths) return msg;
  return prune(type as IMessageType<object>, msg as Obj, tree(paths)) as T;
}
