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


# The kernel hands a process's SIGINT to any thread that does not block it; CPython runs the
# handler only on the main thread, and only once that thread wakes. Here the signal is sent to
# the event loop's thread on purpose, as a loaded machine sometimes did to `builder serve`.
_SIGNAL_ON_THE_LOOP_THREAD = """
import asyncio
import signal
import sys
import threading
from serving import run

def main_thread_waits():
    frame = sys._current_frames()[threading.main_thread().ident]
    while frame is not None and frame.f_code.co_name not in ("join", "_wait_for_tstate_lock"):
        frame = frame.f_back
    return frame is not None

async def main(shutdown):
    while not main_thread_waits():  # the main thread is inside run(), waiting for this thread
        await asyncio.sleep(0.01)
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)
    await shutdown.requested.wait()
    return "asked to stop"

print(run(main), flush=True)
"""


def test_a_ctrl_c_the_kernel_gives_another_thread_still_stops_the_program():
    process = subprocess.Popen([sys.executable, "-c", _SIGNAL_ON_THE_LOOP_THREAD], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError("the program did not notice a SIGINT delivered to its loop's thread") from None
    assert (process.returncode, out) == (0, "asked to stop\n"), err
