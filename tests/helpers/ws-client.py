#!/usr/bin/python3
"""WebSocket clients for the tests, on python3-websockets (Debian's): what a
user's client does, printed one result a line.

  ws-client.py echo URL [CAFILE]       text, JSON text and binary round trips
  ws-client.py chat URL                two clients: on_connect, a message, on_disconnect
  ws-client.py many URL N [PARALLEL]   N clients at once (connecting PARALLEL at a
                                       time), each one message: "N/N echoed"
  ws-client.py listen URL N SECONDS    N clients wait for a broadcast: "N/N got X"
  ws-client.py first URL [SECONDS]     what arrives first (or how it closes)
  ws-client.py send URL MESSAGE        send MESSAGE, print the reply
"""
import asyncio, json, ssl, sys
import websockets

def ctx(url, cafile):
    if not url.startswith("wss:"):
        return None
    return ssl.create_default_context(cafile=cafile)

async def echo(url, cafile=None):
    async with websockets.connect(url, ssl=ctx(url, cafile)) as ws:
        for m in ["hello", '{"a":1}', b"\x00\x01\xffbin", "ünïcödé ✓"]:
            await ws.send(m)
            r = await asyncio.wait_for(ws.recv(), 10)
            # JSON that a handler parsed comes back as the same value.
            same = r == m or (m.startswith("{") and json.loads(r) == json.loads(m))
            print("same" if same else f"differs: sent {m!r} got {r!r}")

async def chat(url):
    a = await websockets.connect(url)
    print("a:", await asyncio.wait_for(a.recv(), 10))
    b = await websockets.connect(url)
    print("a:", await asyncio.wait_for(a.recv(), 10))
    print("b:", await asyncio.wait_for(b.recv(), 10))
    await b.send("hi all")
    print("a:", await asyncio.wait_for(a.recv(), 10))
    print("b:", await asyncio.wait_for(b.recv(), 10))
    await b.close()
    print("a:", await asyncio.wait_for(a.recv(), 10))
    await a.close()

async def many(url, n, parallel=100):
    conns = []
    for start in range(0, n, parallel):
        conns += await asyncio.gather(*[
            websockets.connect(url, open_timeout=60, ping_interval=None)
            for _ in range(start, min(n, start + parallel))])
    await asyncio.gather(*[c.send(f"m{i}") for i, c in enumerate(conns)])
    got = await asyncio.gather(*[asyncio.wait_for(c.recv(), 60) for c in conns])
    ok = sum(1 for i, g in enumerate(got) if g == f"m{i}")
    print(f"{ok}/{n} echoed")
    await asyncio.gather(*[c.close() for c in conns])

async def listen(url, n, secs):
    conns = await asyncio.gather(*[websockets.connect(url, ping_interval=None) for _ in range(n)])
    got = await asyncio.gather(*[asyncio.wait_for(c.recv(), secs) for c in conns],
                               return_exceptions=True)
    firsts = {g for g in got if isinstance(g, str)}
    ok = sum(1 for g in got if isinstance(g, str))
    print(f"{ok}/{n} got {sorted(firsts)[0] if firsts else 'nothing'}")
    await asyncio.gather(*[c.close() for c in conns])

async def first(url, secs=10):
    async with websockets.connect(url) as ws:
        try:
            print("message:", await asyncio.wait_for(ws.recv(), secs))
        except asyncio.TimeoutError:
            print("nothing")
        except websockets.ConnectionClosed as e:
            print("closed:", e.rcvd.code if e.rcvd else None, e.rcvd.reason if e.rcvd else "")

async def send(url, msg):
    async with websockets.connect(url) as ws:
        await ws.send(msg)
        print(await asyncio.wait_for(ws.recv(), 10))

cmd, url, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
if cmd == "echo":
    asyncio.run(echo(url, *rest))
elif cmd == "chat":
    asyncio.run(chat(url))
elif cmd == "many":
    asyncio.run(many(url, *map(int, rest)))
elif cmd == "listen":
    asyncio.run(listen(url, int(rest[0]), float(rest[1])))
elif cmd == "first":
    asyncio.run(first(url, *map(float, rest)))
elif cmd == "send":
    asyncio.run(send(url, rest[0]))
else:
    sys.exit("unknown command " + cmd)
