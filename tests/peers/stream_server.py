"""A streaming HTTP/1.1 server for tests/streams.rs: Server-Sent Events and chunked
responses at known gaps, from Python's standard library (ThreadingHTTPServer). Prints
`port N`, then `ready`. Every request is logged to argv[1] as its path and query.

  /events?n=N&gap=MS&first=MS  text/event-stream: waits `first` ms, then N events
                               (`id`, two `data:` lines, CRLF endings), `gap` ms apart,
                               with a `:ping` comment block (not an event) between each
  /chunks?n=N&gap=MS&first=MS  text/plain, chunked: N chunks `gap` ms apart
  /whole                       a plain 200 with Content-Length
"""

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOG = open(sys.argv[1], "a", buffering=1)
LOCK = threading.Lock()


def log(line):
    with LOCK:
        LOG.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Each chunk is its own write: without TCP_NODELAY, Nagle holds the next one until the
    # client's delayed ACK (40 ms) for the previous.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: int(v[0]) for k, v in parse_qs(url.query).items()}
        log(self.path)
        n, gap, first = q.get("n", 3), q.get("gap", 10), q.get("first", 0)
        if url.path == "/whole":
            body = b"whole"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        kind = "text/event-stream" if url.path == "/events" else "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.flush()
        time.sleep(first / 1000)
        for i in range(n):
            if i > 0:
                time.sleep(gap / 1000)
            if url.path == "/events":
                if i > 0:
                    self.chunk(b":ping\r\n\r\n")
                self.chunk(b"id: %d\r\ndata: token %d\r\ndata: more\r\n\r\n" % (i, i))
            else:
                self.chunk(b"token %d " % i)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    # The standard library's backlog of 5 drops the SYNs of a few dozen connections
    # opened at once, and the client's retransmission then waits a second or more.
    request_queue_size = 256


def main():
    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"port {server.server_address[1]}", flush=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
