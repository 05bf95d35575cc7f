// micropython SCRIPT [ARG...]: servos' MicroPython runtime. Debian has no
// MicroPython, so this runs the WebAssembly port (the npm package
// @micropython/micropython-webassembly-pyscript) under node, with a
// `machine` module that records what the script does to pins, and a
// `time` whose sleeps pass in simulated time (mpy-machine.py,
// mpy-time.py). The script's directory is copied into the interpreter's
// own file system (it has no other), so the script reads its files there;
// what it writes stays in memory.
//
// Environment: SERVOS_TIME=SECONDS ends the run once that much simulated
// time has passed (exit 0); SERVOS_HEAP=BYTES sizes the heap (a board's
// RAM). --request: ProServe's board mode: a JSON request on stdin, the
// script's main(request) or handler(request) called, its result printed
// as JSON.
//
// Exit: the script's sys.exit code, 1 for an uncaught exception, 2 for
// bad use.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let proserve = false;
if (args[0] === "--request") {
  proserve = true;
  args.shift();
}
if (args.length < 1 || args[0].startsWith("-")) {
  process.stderr.write("usage: micropython [--request] SCRIPT [ARG...]\n");
  process.exit(2);
}
const script = path.resolve(args[0]);
let source;
try {
  source = fs.readFileSync(script, "utf8");
} catch (e) {
  process.stderr.write(`micropython: ${args[0]}: ${e.code === "ENOENT" ? "no such file" : e.message}\n`);
  process.exit(2);
}

// Output written as it comes, a line at a time, through the same
// descriptors: the pin lines and print()s stay in order.
function writer(fd) {
  let buf = [];
  const flush = () => {
    if (buf.length) fs.writeSync(fd, Buffer.from(buf));
    buf = [];
  };
  return { put: (c) => { buf.push(c); if (c === 10 || buf.length >= 4096) flush(); }, flush };
}
const out = writer(1), err = writer(2);
const input = proserve ? [] : null;
let stdinBytes = null, stdinAt = 0;
function readStdin() {
  if (stdinBytes === null) {
    try { stdinBytes = fs.readFileSync(0); } catch { stdinBytes = Buffer.alloc(0); }
  }
  return stdinAt < stdinBytes.length ? stdinBytes[stdinAt++] : null;
}

const heap = Number(process.env.SERVOS_HEAP) || 8 * 1024 * 1024;
const mp = await loadMicroPython({
  heapsize: heap, linebuffer: false,
  stdout: (b) => b.forEach(out.put), stderr: (b) => b.forEach(err.put), stdin: readStdin,
});

// The script's directory, into the interpreter's file system.
const dir = path.dirname(script);
let budget = 64 * 1024 * 1024;
function copy(from, depth) {
  let names = [];
  try { names = fs.readdirSync(from, { withFileTypes: true }); } catch { return; }
  mp.FS.mkdirTree(from);
  for (const d of names) {
    const p = path.join(from, d.name);
    if (d.isDirectory() && depth < 8 && d.name !== "node_modules") copy(p, depth + 1);
    else if (d.isFile()) {
      const st = fs.statSync(p);
      if (st.size > budget) continue;
      budget -= st.size;
      mp.FS.writeFile(p, fs.readFileSync(p));
    }
  }
}
copy(dir, 0);
mp.FS.mkdirTree("/servos");
mp.FS.writeFile("/servos/machine.py", fs.readFileSync(path.join(here, "mpy-machine.py")));
mp.FS.writeFile("/servos/svtime.py", fs.readFileSync(path.join(here, "mpy-time.py")));
mp.FS.chdir(dir);

const limit = Number(process.env.SERVOS_TIME) || 0;
const name = path.basename(script);
const prelude = `
import sys, time as _rt
sys.modules['_svrt'] = _rt
sys.path.insert(0, '/servos')
import svtime
svtime._limit_us = int(${limit} * 1000000)
sys.modules['time'] = svtime
sys.modules['utime'] = svtime
sys.argv.clear()
sys.argv.extend(${JSON.stringify([name, ...args.slice(1)])})
del _rt
`;
const run = proserve ? `
import json as _json, machine as _machine
_machine._file = sys.stderr
del _machine
_g = {'__name__': '__servos__'}
exec(compile(open(${JSON.stringify(script)}).read(), ${JSON.stringify(name)}, 'exec'), _g)
_f = _g.get('main') or _g.get('handler')
if _f is None:
    raise SystemExit('${name} defines no main(request) or handler(request)')
_r = _f(_json.loads(sys.stdin.read() or '{}'))
print(_json.dumps(_r))
` : `
exec(compile(open(${JSON.stringify(script)}).read(), ${JSON.stringify(name)}, 'exec'), {'__name__': '__main__'})
while svtime._timers:
    svtime.sleep_ms(1000)
`;

let code = 0;
try {
  mp.runPython(prelude);
  mp.runPython(run);
} catch (e) {
  const text = String(e.message || e);
  const exit = text.match(/^SystemExit: (-?\d+)\s*$/m);
  if (/^svtime\.TimeUp|^TimeUp/m.test(text)) code = 0;
  else if (exit) code = Number(exit[1]) & 0xff;
  else if (/^SystemExit\s*$/m.test(text)) code = 0;
  else if (/^SystemExit: /m.test(text)) {
    out.flush();
    err.flush();
    process.stderr.write(text.replace(/^[\s\S]*^SystemExit: /m, ""));
    code = 1;
  } else {
    // The first frame is the runner's own exec; the script's follow.
    out.flush();
    err.flush();
    process.stderr.write(text.replace(/^  File "<stdin>", line \d+, in <module>\n/m, ""));
    code = 1;
  }
}
out.flush();
err.flush();
process.exitCode = code;
