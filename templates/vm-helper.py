#!/usr/bin/python3 -IS
"""berth's helper inside a VM: the SSH gateway runs it (as the VM's user) over `docker exec`.

  run REPORT -- ARGV...        runs ARGV as a child; if a signal ends it, writes "NAME CORE" to
                               REPORT (so the gateway can send exit-signal, which Docker's
                               128+n exit code cannot tell apart from a plain exit)
  listen tcp PORT              listens on 127.0.0.1:PORT (0: any free port)
  listen x11 SCREEN            listens on the first free X display from :10; registers with
                               xauth (when the VM has it) the "PROTO COOKIE" line read first
                               from stdin
  listen agent                 listens on a fresh unix socket (for SSH_AUTH_SOCK)
  connect CTL ID               relays stdin/stdout to accepted connection ID of a listener;
                               stdout is framed (4-byte length, then data; length 0: the
                               connection's EOF), so that either side can end its half alone
  dial PORT                    the same for a new connection to 127.0.0.1:PORT (how the gateway
                               reaches a port of a VM on another Swarm node); exit 1 if refused

A listener prints "ready ADDRESS CTL", then "conn ID HOST PORT" per accepted connection, which
waits for a `connect` to pick it up. It ends, closing everything, when its stdin ends or it
gets SIGHUP/SIGTERM.
"""
import os
import signal
import sys

# Loaded by the modes that need them only: `run` starts every session and stays light.
asyncio = shutil = socket = subprocess = tempfile = threading = None

PICKUP_SECONDS = 30
CHUNK = 64 * 1024
FORWARDED = ('SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGPIPE')


def run(report, argv):
    # Caught (not ignored) in this process only: a caught signal is reset to its default by
    # exec, so the child starts with default dispositions (Python ignores SIGPIPE otherwise).
    # The gateway signals the child's process group itself; this process just waits.
    for name in FORWARDED:
        signal.signal(getattr(signal, name), lambda *_: None)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as err:
            os.write(2, f'berth: {argv[0]}: {err.strerror}\n'.encode())
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    if not os.WIFSIGNALED(status):
        return os.WEXITSTATUS(status)
    number = os.WTERMSIG(status)
    try:
        name = signal.Signals(number).name[3:]
    except ValueError:
        name = str(number)
    try:
        fd = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        os.write(fd, f'{name} {1 if os.WCOREDUMP(status) else 0}\n'.encode())
        os.close(fd)
    except OSError:
        pass  # no report: the gateway sends exit-status 128+n instead
    return 128 + number


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


async def pump(reader, writer):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def open_x11(serve, screen, auth):
    proto, cookie = auth.split()
    for display in range(10, 1000):
        try:
            server = await asyncio.start_server(serve, '127.0.0.1', 6000 + display)
        except OSError:
            continue
        if shutil.which('xauth'):
            try:
                subprocess.run(['xauth', '-q', '-'], input=f'add unix:{display}.{int(screen)} {proto} {cookie}\n',
                               text=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5, check=False)
            except subprocess.TimeoutExpired:
                pass
        return server, f'{display}'
    raise OSError('no free X display between :10 and :999')


async def listen(kind, args):
    loop = asyncio.get_running_loop()
    waiting = {}
    counter = 0
    work = tempfile.mkdtemp(prefix='berth-relay-')
    ctl = os.path.join(work, 'ctl')

    def drop(cid):
        pair = waiting.pop(cid, None)
        if pair:
            pair[1].close()

    async def on_connection(reader, writer):
        nonlocal counter
        counter += 1
        cid = str(counter)
        waiting[cid] = (reader, writer)
        peer = writer.get_extra_info('peername')
        host, port = (peer[0], peer[1]) if isinstance(peer, tuple) else ('127.0.0.1', 0)
        say(f'conn {cid} {host} {port}')
        loop.call_later(PICKUP_SECONDS, drop, cid)

    async def on_pickup(reader, writer):
        line = await reader.readline()
        pair = waiting.pop(line.decode(errors='replace').strip(), None)
        if not pair:
            writer.close()
            return
        await asyncio.gather(pump(pair[0], writer), pump(reader, pair[1]))
        writer.close()
        pair[1].close()

    try:
        if kind == 'tcp':
            server = await asyncio.start_server(on_connection, '127.0.0.1', int(args[0]))
            address = str(server.sockets[0].getsockname()[1])
        elif kind == 'x11':
            server, address = await open_x11(on_connection, args[0], sys.stdin.readline())
        elif kind == 'agent':
            address = os.path.join(work, 'agent.sock')
            server = await asyncio.start_unix_server(on_connection, address)
            os.chmod(address, 0o600)
        else:
            raise OSError(f'unknown listener kind {kind}')
    except (OSError, ValueError, TypeError) as err:
        shutil.rmtree(work, ignore_errors=True)
        say(f'error {getattr(err, "strerror", None) or err}')
        return 1
    pickup = await asyncio.start_unix_server(on_pickup, ctl)
    stop = asyncio.Event()
    for sig in (signal.SIGHUP, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.run_in_executor(None, sys.stdin.buffer.read).add_done_callback(lambda _: stop.set())
    say(f'ready {address} {ctl}')
    await stop.wait()
    server.close()
    pickup.close()
    shutil.rmtree(work, ignore_errors=True)
    # At once: a thread may still be blocked reading stdin, and the relays end with the process.
    os._exit(0)


def write_frame(data):
    view = memoryview(len(data).to_bytes(4, 'big') + data)
    while view:
        view = view[os.write(1, view):]


def connect(ctl, cid):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(ctl)
    sock.sendall(f'{cid}\n'.encode())
    return relay(sock)


def dial(port):
    try:
        sock = socket.create_connection(('127.0.0.1', int(port)), timeout=10)
    except (OSError, ValueError) as err:
        sys.stderr.write(f'dial {port}: {err}\n')
        return 1
    sock.settimeout(None)
    return relay(sock)


def relay(sock):
    # Ends when both halves have: the client's (stdin's EOF) and the connection's (recv's EOF).
    upstream_done = threading.Event()

    def upstream():
        try:
            while True:
                data = os.read(0, CHUNK)
                if not data:
                    break
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            upstream_done.set()

    threading.Thread(target=upstream, daemon=True).start()
    try:
        while True:
            data = sock.recv(CHUNK)
            if not data:
                break
            write_frame(data)
        write_frame(b'')
    except OSError:
        return 0
    upstream_done.wait()
    return 0


def load(*names):
    for name in names:
        globals()[name] = __import__(name)


def main(argv):
    if len(argv) >= 4 and argv[0] == 'run' and argv[2] == '--':
        return run(argv[1], argv[3:])
    if len(argv) >= 2 and argv[0] == 'listen':
        load('asyncio', 'shutil', 'subprocess', 'tempfile')
        return asyncio.run(listen(argv[1], argv[2:]))
    if len(argv) == 3 and argv[0] == 'connect':
        load('socket', 'threading')
        return connect(argv[1], argv[2])
    if len(argv) == 2 and argv[0] == 'dial':
        load('socket', 'threading')
        return dial(argv[1])
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
