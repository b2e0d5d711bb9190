"""WebSocket servers for tests/websocket.rs, from PyPI's `websockets` (an independent
implementation). One process, one port per behaviour, printed as `name port` lines, then
`ready`. Every connection and message is logged to the log file given as argv[1] so the
tests count what the server saw (argv[2] and argv[3], if given: certificate and key for
`echo_tls`; argv[1] may be /dev/null where nothing is counted):

  echo     replies with each message as it came (text stays text, binary stays binary);
           logs `open <path> <subprotocol> <x-test header>` per connection,
           `cookie <path> <Cookie header>` when the upgrade carried one,
           `msg <kind> <payload>` per message and `closed <path> <code>` at its end
  closing  echoes 3 messages per connection, then closes with code 4001 "enough"
           and answers plain HTTP on /http/...: logs `http <path> <cookie header>` and
           replies 200 `token-<n>` (n counts them) with a `Set-Cookie: seen=<n>`
  silent   accepts and never answers
  echo_tls the echo server over TLS (wss://)
"""

import asyncio
import logging
import ssl
import sys

# A client that ends its run drops its connections without a closing handshake; the
# library logs each such end with a traceback. The tests count what they need in LOG.
logging.getLogger("websockets").setLevel(logging.CRITICAL)

from websockets.asyncio.server import serve

LOG = open(sys.argv[1], "a", buffering=1)


def log(line):
    LOG.write(line + "\n")


async def echo(ws):
    req = ws.request
    log(f"open {req.path} {ws.subprotocol or '-'} {req.headers.get('X-Test', '-')}")
    if "Cookie" in req.headers:
        log(f"cookie {req.path} {req.headers['Cookie']}")
    async for m in ws:
        kind = "bin" if isinstance(m, bytes) else "text"
        shown = m.decode("latin-1") if isinstance(m, bytes) else m
        log(f"msg {kind} {shown}")
        await ws.send(m)
    log(f"closed {req.path} {ws.close_code}")


async def closing(ws):
    log("open-closing")
    n = 0
    async for m in ws:
        n += 1
        log("msg-closing")
        await ws.send(m)
        if n == 3:
            await ws.close(4001, "enough")
            return


async def silent(ws):
    log("open-silent")
    async for _ in ws:
        log("msg-silent")


HTTP_SERVED = 0


def http_paths(connection, request):
    """Plain HTTP beside the WebSocket on the same port: a login that hands out a token."""
    global HTTP_SERVED
    if not request.path.startswith("/http/"):
        return None
    HTTP_SERVED += 1
    log(f"http {request.path} {request.headers.get('Cookie', '-')}")
    response = connection.respond(200, f"token-{HTTP_SERVED}")
    response.headers["Set-Cookie"] = f"seen={HTTP_SERVED}; Path=/"
    return response


def chat_or_none(ws, offered):
    """Picks chat.v2 or chat.v1 when offered; a client that offers none is served too."""
    for p in ("chat.v2", "chat.v1"):
        if p in offered:
            return p
    return None


async def main():
    servers = []
    for name, handler, select, process in (
        ("echo", echo, chat_or_none, http_paths),
        ("closing", closing, None, None),
        ("silent", silent, None, None),
    ):
        s = await serve(
            handler,
            "127.0.0.1",
            0,
            select_subprotocol=select,
            process_request=process,
            ping_interval=None,
        )
        servers.append(s)
        print(name, s.sockets[0].getsockname()[1], flush=True)
    if len(sys.argv) > 3:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        s = await serve(echo, "127.0.0.1", 0, ssl=ctx, ping_interval=None)
        servers.append(s)
        print("echo_tls", s.sockets[0].getsockname()[1], flush=True)
    print("ready", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
