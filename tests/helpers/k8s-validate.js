// Validate Kubernetes objects offline against the API's OpenAPI schemas
// (npm's kubernetes-models, with @kubernetes-models/validate): every
// document of every file given (YAML; "-" is standard input). The schemas
// allow fields they do not know, as the API server's non-strict decoding
// does; kubectl's strict field validation does not, so a field no schema
// names is an error here too (from the models' type declarations).
// Prints "ok KIND NAME" per object, or "invalid FILE: KIND NAME: what",
// and exits 1 when any object is invalid.
//   NODE_PATH=<cache>/node_modules node k8s-validate.js FILE...
"use strict";
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const root = path.dirname(require.resolve("kubernetes-models/package.json"));

function model(apiVersion, kind) {
  const dir = apiVersion === "v1" ? "v1" : apiVersion;
  try {
    return [require(`kubernetes-models/${dir}/${kind}`)[kind], path.join(root, dir, `${kind}.d.ts`)];
  } catch (e) {
    return [null, null];
  }
}

// An interface of a .d.ts: its properties, each with the file that
// declares its type (or null for a scalar), and whether it is a map.
const ifaces = new Map();
function iface(file) {
  if (ifaces.has(file)) return ifaces.get(file);
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    ifaces.set(file, null);
    return null;
  }
  const imports = {};
  for (const m of text.matchAll(/import \{ (\w+) \} from "([^"]+)";/g)) {
    const from = m[2].startsWith(".") ? path.join(path.dirname(file), m[2])
      : path.join(path.dirname(require.resolve(m[2].split("/").slice(0, 2).join("/") + "/package.json")),
                  m[2].split("/").slice(2).join("/"));
    imports[m[1]] = from + ".d.ts";
  }
  const body = text.match(/export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)\n\}/);
  if (!body) {
    ifaces.set(file, null); // a scalar type (Quantity, IntOrString, Time)
    return null;
  }
  const props = parseProps(body[1], 4, imports);
  if (/ extends TypeMeta/.test(body[0])) {
    props.apiVersion = props.apiVersion || { file: null };
    props.kind = props.kind || { file: null };
  }
  ifaces.set(file, props);
  return props;
}

// The properties declared at one indentation: "name"?: TYPE; where TYPE is
// a named interface, an Array of one, a map of one ({ [key: string]: T }),
// an inline object (Array<{ ... }> or { ... }: its own properties), or a
// scalar.
function parseProps(text, indent, imports) {
  const pad = " ".repeat(indent);
  const re = new RegExp(`^${pad}"([^"]+)"\\??: ((?:Array<)?\\{[\\s\\S]*?^${pad}\\}>?|[^\\n]*?);$`, "gm");
  const props = {};
  for (const m of text.matchAll(re)) {
    let t = m[2], map = false, inline = null;
    const arr = t.match(/^Array<(\w+)>$/);
    const dict = t.match(/^\{\s*\[key: string\]: (\w+);?\s*\}$/);
    if (arr) t = arr[1];
    else if (dict) { t = dict[1]; map = true; }
    else if (/^(Array<)?\{/.test(t)) inline = parseProps(t, indent + 4, imports);
    props[m[1]] = { file: imports[t] || null, map, inline };
  }
  return props;
}

function unknownFields(obj, file, where, out, inline) {
  const props = inline || (file && iface(file));
  if (!props || obj === null || typeof obj !== "object") return;
  if (Array.isArray(obj)) {
    obj.forEach((o, i) => unknownFields(o, file, `${where}[${i}]`, out, inline));
    return;
  }
  for (const [k, v] of Object.entries(obj)) {
    const p = props[k];
    if (!p) {
      out.push(`${where}.${k}: no such field`);
      continue;
    }
    if (p.map && v && typeof v === "object")
      for (const [mk, mv] of Object.entries(v)) unknownFields(mv, p.file, `${where}.${k}.${mk}`, out);
    else unknownFields(v, p.file, `${where}.${k}`, out, p.inline);
  }
}

let bad = 0;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
  for (const d of YAML.parseAllDocuments(text)) {
    if (d.errors.length) {
      console.log(`invalid ${file}: YAML: ${d.errors[0].message}`);
      bad++;
      continue;
    }
    const obj = d.toJS();
    if (obj === null) continue;
    const what = `${obj.kind} ${obj.metadata && obj.metadata.name}`;
    const [M, dts] = model(obj.apiVersion || "", obj.kind || "");
    if (!M) {
      console.log(`invalid ${file}: ${what}: unknown apiVersion ${obj.apiVersion} and kind`);
      bad++;
      continue;
    }
    const problems = [];
    try {
      new M(obj).validate();
    } catch (e) {
      problems.push(e.message.replace(/\s+/g, " "));
    }
    unknownFields(obj, dts, "", problems);
    if (problems.length) {
      console.log(`invalid ${file}: ${what}: ${problems.join("; ")}`);
      bad++;
    } else {
      console.log(`ok ${what}`);
    }
  }
}
process.exit(bad ? 1 : 0);
