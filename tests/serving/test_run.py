import signal
import subprocess
import sys

from tests.conftest import REPO

# Three servers in one loop, as the sandbox runs many: one Ctrl-C must stop them all.
_PROGRAM = """
import asyncio
import socket
from serving import Server, bind, run

async def app(scope, receive, send):
    pass

async def main(shutdown):
    servers = [Server(app, bind(), lifespan="off") for _ in range(3)]
    await asyncio.gather(*(s.start() for s in servers))
    ports = [s.port for s in servers]
    print("ready", flush=True)
    await shutdown.wait(*servers)
    await asyncio.gather(*(s.stop(shutdown.forced) for s in servers))
    refused = 0
    for port in ports:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except ConnectionRefusedError:
            refused += 1  # the server stopped and closed its listener
    return refused

print("stopped", run(main), flush=True)
"""


def test_one_ctrl_c_stops_every_server_in_the_loop_and_the_program_returns():
    process = subprocess.Popen([sys.executable, "-c", _PROGRAM], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert out == "stopped 3\n"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
