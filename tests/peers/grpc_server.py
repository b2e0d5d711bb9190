"""A gRPC server for tests/grpc.rs, from PyPI's `grpcio` (an independent implementation),
with server reflection on (and, on the `noreflect` port, the same service without it). The service is tests/peers/grpc/greeter.proto, compiled at start
with grpcio-tools. Prints `port N` (plain h2c) and, when a certificate and key are given,
`tls N`, then `ready`. Every call is logged to argv[1] as `<method> <name>` (and each
message of a client stream as `msg <method> <name>`), so the tests count what the server saw.

usage: grpc_server.py LOG [CERT KEY]
"""

import os
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
from grpc_reflection.v1alpha import reflection
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = tempfile.mkdtemp(prefix="kaioken-grpc-")
if protoc.main(["protoc", f"-I{HERE}/grpc", f"--python_out={OUT}", f"--grpc_python_out={OUT}",
                f"{HERE}/grpc/greeter.proto"]) != 0:
    sys.exit("protoc failed")
sys.path.insert(0, OUT)
import greeter_pb2 as pb  # noqa: E402
import greeter_pb2_grpc as pbg  # noqa: E402

LOG = open(sys.argv[1], "a", buffering=1)
LOCK = threading.Lock()
CALLS = {"Flaky": 0}


def log(line):
    with LOCK:
        LOG.write(line + "\n")


def pause(req):
    if req.delay_ms > 0:
        time.sleep(req.delay_ms / 1000)


class Greeter(pbg.GreeterServicer):
    def SayHello(self, req, ctx):
        log(f"SayHello {req.name}")
        if req.name.startswith("deadline"):
            # What grpc-timeout the client sent, as the server sees it (seconds left).
            log(f"remaining {ctx.time_remaining():.1f}")
        md = dict(ctx.invocation_metadata())
        if "x-tenant" in md:
            log(f"tenant {md['x-tenant']}")
        pause(req)
        return pb.HelloReply(message=f"hello {req.name}")

    def Count(self, req, ctx):
        log(f"Count {req.name}")
        for i in range(req.count):
            pause(req)
            yield pb.HelloReply(message=f"{req.name} {i}", index=i)

    def Collect(self, it, ctx):
        n = 0
        name = ""
        for req in it:
            n += 1
            name = req.name
            log(f"msg Collect {req.name}")
        log(f"Collect {name}")
        return pb.HelloReply(message=f"got {n}", index=n)

    def Chat(self, it, ctx):
        name = ""
        for i, req in enumerate(it):
            name = req.name
            log(f"msg Chat {req.name}")
            yield pb.HelloReply(message=f"re {req.name}", index=i)
        log(f"Chat {name}")

    def Flaky(self, req, ctx):
        with LOCK:
            CALLS["Flaky"] += 1
            n = CALLS["Flaky"]
        log(f"Flaky {req.name}")
        if n % 4 == 0:
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "every fourth call fails")
        return pb.HelloReply(message="ok")


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    pbg.add_GreeterServicer_to_server(Greeter(), server)
    names = (pb.DESCRIPTOR.services_by_name["Greeter"].full_name, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port("127.0.0.1:0")
    print(f"port {port}", flush=True)
    if len(sys.argv) > 3:
        cert = open(sys.argv[2], "rb").read()
        key = open(sys.argv[3], "rb").read()
        creds = grpc.ssl_server_credentials([(key, cert)])
        print(f"tls {server.add_secure_port('127.0.0.1:0', creds)}", flush=True)
    server.start()
    # The same service without reflection, for --reflect's refusal.
    bare = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pbg.add_GreeterServicer_to_server(Greeter(), bare)
    print(f"noreflect {bare.add_insecure_port('127.0.0.1:0')}", flush=True)
    bare.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
