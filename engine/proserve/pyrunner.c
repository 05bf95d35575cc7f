/* ProServe's Python contract, as the small runner every Python handler
 * runs under (python3 -c RUNNER FILE FUNCTION MODE):
 *
 *  - request: `async def main(request, service)` (or handler, handle,
 *    handle_request; sync or async) gets the request on stdin and returns
 *    JSON-able data;
 *  - task: `background_task(service)` (or main, run, handler, handle);
 *  - websocket: kept running while its connection lasts, the module loaded
 *    once; `async def handle_websocket(ws, data, service)` (or
 *    websocket_handler, handle_message, on_message, main, handler, handle)
 *    gets each message (a line of stdin: see wsmsg.h), its return value is
 *    sent back, and ws.send_str / send_json / send_bytes / send /
 *    broadcast / close send at once (awaited or not); on_connect(ws,
 *    service) and on_disconnect(ws, service), when the module has them,
 *    run first and at the end (stdin's EOF is the client's leaving).
 *
 * Arguments go by name where the function names them (ws, websocket,
 * data, message, msg, service, request), else by position. service.name,
 * service.manifest (as attributes too: service.manifest.name) and
 * service.logger (to stderr: servos logs) are there. */
#include "proserve/proserve_int.h"

const char pf_python_runner[] =
    "import asyncio, base64, importlib.util, inspect, json, logging, os, sys, traceback\n"
    "target, func, mode = sys.argv[1], sys.argv[2], sys.argv[3]\n"
    "class Obj(dict):\n"
    "    def __getattr__(self, k):\n"
    "        try: return self[k]\n"
    "        except KeyError: raise AttributeError(k)\n"
    "def obj(v):\n"
    "    if isinstance(v, dict): return Obj({k: obj(x) for k, x in v.items()})\n"
    "    if isinstance(v, list): return [obj(x) for x in v]\n"
    "    return v\n"
    "class Request(dict):\n"
    "    def __init__(self, d):\n"
    "        super().__init__(d)\n"
    "        self.method, self.path = d.get('method'), d.get('path')\n"
    "        self.path_params = self.match_info = d.get('path_params') or {}\n"
    "        self.query, self.headers = d.get('query') or {}, d.get('headers') or {}\n"
    "        self.body = d.get('body') or ''\n"
    "    async def json(self): return self.get('json')\n"
    "    async def text(self): return self.body\n"
    "    async def read(self): return self.body.encode()\n"
    "logging.basicConfig(stream=sys.stderr, level=logging.INFO, format='%(levelname)s "
    "%(message)s')\n"
    "class Service:\n"
    "    def __init__(self, m):\n"
    "        self.manifest, self.name = obj(m), m.get('name')\n"
    "        self.logger = logging.getLogger(self.name or 'proserve')\n"
    "svc = Service(json.loads(os.environ.pop('PROSERVE_MANIFEST', '{}')))\n"
    "sys.path.insert(0, os.path.dirname(os.path.abspath(target)))\n"
    "spec = importlib.util.spec_from_file_location('proserve_handler', target)\n"
    "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
    "names = {'request': ('main', 'handler', 'handle', 'handle_request'),\n"
    "         'task': ('background_task', 'main', 'run', 'handler', 'handle'),\n"
    "         'websocket': ('handle_websocket', 'websocket_handler', 'handle_message',\n"
    "                       'on_message', 'main', 'handler', 'handle')}[mode]\n"
    "fn = getattr(mod, func, None) if func else next(\n"
    "    (getattr(mod, n) for n in names if callable(getattr(mod, n, None))), None)\n"
    "if not callable(fn): sys.exit(target + ': no function ' + (func or ' or '.join(names)))\n"
    "loop = asyncio.new_event_loop()\n"
    "def done(v): return loop.run_until_complete(v) if inspect.isawaitable(v) else v\n"
    "ALIASES = {'ws': 'ws', 'websocket': 'ws', 'socket': 'ws', 'data': 'data', 'message': 'data',\n"
    "           'msg': 'data', 'payload': 'data', 'service': 'service', 'svc': 'service',\n"
    "           'request': 'request', 'req': 'request'}\n"
    "def call(f, order, one=None, **have):\n"
    "    ps = [p for p in inspect.signature(f).parameters.values()\n"
    "          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]\n"
    "    if ps and all(p.name in ALIASES for p in ps):\n"
    "        return done(f(*[have[ALIASES[p.name]] for p in ps]))\n"
    "    if len(ps) == 1 and one: return done(f(have[one]))\n"
    "    return done(f(*[have[k] for k in order][:len(ps)]))\n"
    "if mode == 'request':\n"
    "    out = call(fn, ('request', 'service'), request=Request(json.load(sys.stdin)), "
    "service=svc)\n"
    "    sys.stdout.write(json.dumps(out, default=str)); sys.exit(0)\n"
    "if mode == 'task':\n"
    "    out = call(fn, ('service',), service=svc)\n"
    "    sys.stdout.write(json.dumps(out, default=str)); sys.exit(0)\n"
    "def emit(line): sys.stdout.write(line + '\\n'); sys.stdout.flush()\n"
    "def enc(m):\n"
    "    if isinstance(m, (bytes, bytearray, memoryview)):\n"
    "        return {'$binary': base64.b64encode(bytes(m)).decode()}\n"
    "    return m\n"
    "class Done:\n"
    "    def __await__(self): return iter(())\n"
    "class WS:\n"
    "    def __init__(self, request): self.request, self.closed = request, False\n"
    "    def send_str(self, s): emit(json.dumps(str(s))); return Done()\n"
    "    def send_json(self, v): emit(json.dumps(json.dumps(v, default=str))); return Done()\n"
    "    def send_bytes(self, b): emit(json.dumps(enc(bytes(b)))); return Done()\n"
    "    def send(self, m): emit(json.dumps(enc(m), default=str)); return Done()\n"
    "    def broadcast(self, m): emit(json.dumps({'$broadcast': enc(m)}, default=str)); return "
    "Done()\n"
    "    def close(self, code=1000, message=''):\n"
    "        self.closed = True; emit(json.dumps({'$close': code, 'reason': str(message)}))\n"
    "        return Done()\n"
    "request = Request(json.loads(os.environ.pop('PROSERVE_REQUEST', '{}')))\n"
    "ws = WS(request)\n"
    "def hook(name):\n"
    "    f = getattr(mod, name, None)\n"
    "    if callable(f) and f is not fn:\n"
    "        out = call(f, ('ws', 'service'), ws=ws, service=svc, request=request, data=None)\n"
    "        if out is not None: ws.send(out)\n"
    "hook('on_connect')\n"
    "while not ws.closed:\n"
    "    line = sys.stdin.readline()\n"
    "    if not line: break\n"
    "    data = json.loads(line)\n"
    "    if isinstance(data, dict) and len(data) == 1 and isinstance(data.get('$binary'), str):\n"
    "        data = base64.b64decode(data['$binary'])\n"
    "    try:\n"
    "        out = call(fn, ('ws', 'data', 'service', 'request'), 'data', ws=ws, data=data,\n"
    "                   service=svc, request=request)\n"
    "    except Exception:\n"
    "        traceback.print_exc(); continue\n"
    "    if out is not None and not ws.closed: ws.send(out)\n"
    "hook('on_disconnect')\n";
