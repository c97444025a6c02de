"""Real TLS peer programs, run as child processes: the one place tests
start, talk to and stop them (the `peers` fixture in tests/conftest.py hands
out a PeerGroup).

Every peer listens or connects on loopback only (127.0.0.1; the stdlib
and mpssl servers also on ::1 when asked; gnutls-serv on the loopback of a
private network namespace, see below), is started in its own
process group, and is killed (SIGKILL to that group, by id) at teardown if it
is still running.  Every wait is bounded and ends on an event (a line, a byte
count, an exit); the only polling is s_server readiness and the
gnutls-serv relay's first connect, below.

Peers
-----
* `openssl s_server` / `openssl s_client` with `-quiet`.  In that mode the
  program's stdout carries exactly the application data it received (no
  banners), and its stdin is the application data it sends.  So:
    - bytes WE send are hashed as they arrive on the peer's stdout
      (`wait_stdout(n)` waits until n bytes came, bounded);
    - bytes the PEER sends are written to its stdin by a feeder thread.
  The two directions run one after the other (we send, wait until the peer
  has printed all of it, then feed the peer's stdin and read it), so neither
  side can block on a full TCP window while the other does the same.
  Close, as observed with OpenSSL 3.0:
    - `s_server -quiet` and `s_client -quiet -no_ign_eof -nocommands` send
      close_notify and exit 0 when their stdin reaches EOF
      (`close_stdin()`); we then read b''.  (-nocommands: a chunk starting
      with 'Q', 'R', 'k'... would otherwise be taken as a command.)
    - when WE close first, they exit 0 with nothing on stderr if our
      close_notify arrived, and print "unexpected eof while reading" and
      (s_client) exit 1 if it did not.
  `-quiet` also suppresses s_server's "ACCEPT" line, so readiness is taken
  from the kernel instead: the server is up when a LISTEN socket on its port
  in /proc/net/tcp belongs to the child (its inode is among the child's
  fds).  The port is picked by binding port 0 and closing it; if another
  process wins the port in between, s_server exits with "Address already in
  use" (or the LISTEN socket is not the child's) and we retry on a new port.
* `openssl ... -brief` (either tool) also prints a summary of the
  connection on stderr ("Protocol version:", "Ciphersuite:", "Peer
  certificate:" or "No peer certificate"): `openssl_summary()` reads it.
* `gnutls-cli`, driven like s_client: data on stdin/stdout, its chatter
  sent to a log file; at stdin EOF it sends close_notify and waits for the
  server's end (it also takes a bare FIN then).  After the server's
  close_notify it exits 0 without sending its own.
* `gnutls-serv` (PeerGroup.gnutls_server), which can neither read its
  stdin nor bind one address: it listens on every interface.  So it runs in
  a private user + network namespace (`unshare -rn`, no privilege needed)
  whose only interface is loopback, and a relay there connects to it and
  hands the connected socket back over a socketpair (SCM_RIGHTS): the test
  gets a TCP socket already connected to it, and the server is reachable
  from nowhere else.  Data goes through its --echo mode, which is
  line-based and handles the data as C strings: it echoes what it holds
  once a newline arrived, up to the first NUL, and treats lines starting
  with "**" as commands, so it can only carry NUL-free text such as
  `text_payload()`.  Per connection it prints "- Description: (TLS1.3-X.509)
  -(ECDHE-...)-(<signature>)-(<cipher>)" on stdout (`gnutls_summary()`).
  It answers our close_notify with its own; a connection that ends
  without one is reported as "Error while receiving data" on stderr.
* `mpssl_peer.py` (next to this file): mpssl itself, built for another
  backend (build/cpython-<backend>, or under $MPSSL_BUILD_ROOT), in a
  separate `/usr/bin/python3 -I` with that build first on sys.path; same
  JSON lines as the stdlib peer.  `mpssl_build_exists()` says whether a
  backend's build is there, `mpssl_info()` what it can do.
* `stdlib_peer.py` (next to this file): CPython's own ssl in a separate
  interpreter, `/usr/bin/python3 -I` without PYTHONPATH, so it never sees
  mpssl's `ssl`.  It reports JSON lines (see that file); `wait_event(name)`
  waits for one.
"""

import functools
import hashlib
import importlib.machinery
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from tlsio import recv_exactly  # noqa: I100  (tests/tlsio.py)

from .peer_protocol import read_close_answer, transport_open  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STDLIB_PEER = os.path.join(HERE, "stdlib_peer.py")
MPSSL_PEER = os.path.join(HERE, "mpssl_peer.py")
BACKENDS = ("openssl", "mbedtls", "gnutls", "bearssl")
PYTHON = "/usr/bin/python3"
OPENSSL = os.environ.get("OPENSSL", "openssl")
HOST = "127.0.0.1"

START_TIMEOUT = 10.0   # until a server listens
IO_TIMEOUT = 20.0      # any single wait for data or exit
STDERR_ERROR_MARKERS = (":error:", "unexpected eof", "verify error",
                        "Verification error", "alert", "Fatal error",
                        "abnormally")


class PeerError(AssertionError):
    """A peer did something the test did not expect (with its stderr)."""


# Variables that sanitize or redirect the process under test; the peers are
# other people's programs and must run as shipped (a preloaded ASan runtime
# makes gnutls-cli hang at exit, for one).
SANITIZER_VARIABLES = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                       "LSAN_OPTIONS", "PYTHONMALLOC")


def peer_environment(env=None):
    """The environment a peer program runs in: ours (or `env`) without the
    sanitizer variables."""
    env = dict(os.environ if env is None else env)
    for name in SANITIZER_VARIABLES:
        env.pop(name, None)
    return env


class PeerProcess:
    """A child program whose stdin/stdout/stderr are serviced by threads.

    stdout_mode "raw": stdout is hashed and counted (application data).
    stdout_mode "json": stdout is parsed as JSON lines into a queue.
    stdout_mode "text": as "raw", and the bytes are also kept, so that
    wait_output() can wait for a line (interactive openssl tools, whose
    stdout mixes banners, -msg traces and application data).
    """

    def __init__(self, argv, stdout_mode="raw", env=None, name=None,
                 logfile=None, pass_fds=()):
        env = peer_environment(env)
        self.argv = [str(a) for a in argv]
        self.logfile = logfile  # where the program logs, shown by describe()
        self.name = name or os.path.basename(self.argv[0])
        self.stdout_mode = stdout_mode
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, start_new_session=True,
            pass_fds=pass_fds)
        self._cond = threading.Condition()
        self._out_digest = hashlib.sha256()
        self._out_count = 0
        self._out_eof = False
        self._out_text = bytearray()
        self._err_eof = False
        self._events = queue.Queue()
        self._err = bytearray()
        self._feeder = None
        self._threads = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()

    # -- threads -------------------------------------------------------
    def _pump_stdout(self):
        out = self.proc.stdout
        try:
            if self.stdout_mode == "json":
                for line in out:
                    line = line.decode("utf-8", "replace").strip()
                    if line:
                        try:
                            self._events.put(json.loads(line))
                        except ValueError:
                            self._events.put({"event": "garbage", "line": line})
            else:
                while True:
                    data = out.read1(65536)
                    if not data:
                        break
                    with self._cond:
                        self._out_digest.update(data)
                        self._out_count += len(data)
                        if self.stdout_mode == "text":
                            self._out_text += data
                        self._cond.notify_all()
        finally:
            self._events.put(None)
            with self._cond:
                self._out_eof = True
                self._cond.notify_all()

    def _pump_stderr(self):
        while True:
            data = self.proc.stderr.read1(65536)
            if not data:
                with self._cond:
                    self._err_eof = True
                    self._cond.notify_all()
                return
            with self._cond:
                self._err += data
                self._cond.notify_all()   # wait_output() also reads stderr

    def _feed(self, data, then_close):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
            if then_close:
                self.proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass  # the peer died; its exit status tells the story

    # -- API -----------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid

    def stderr_text(self):
        with self._cond:
            return self._err.decode("utf-8", "replace")

    def log_text(self):
        if not self.logfile:
            return ""
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def describe(self):
        text = "%s (pid %d, rc %r)\n  argv: %s\n  stderr: %s" % (
            self.name, self.pid, self.proc.poll(), " ".join(self.argv),
            self.stderr_text().strip() or "(empty)")
        if self.logfile:
            text += "\n  log: " + (self.log_text().strip()[-2000:] or "(empty)")
        if self.stdout_mode == "text":
            text += "\n  stdout (tail): " + (
                self.stdout_text().strip()[-3000:] or "(empty)")
        return text

    def stdout_text(self):
        """text mode: everything printed on stdout so far."""
        with self._cond:
            return self._out_text.decode("utf-8", "replace")

    def output_count(self, needle):
        """text mode: occurrences of `needle` (str) in stdout + stderr."""
        with self._cond:
            return self._output_count_locked(needle.encode())

    def _output_count_locked(self, needle):
        return self._out_text.count(needle) + self._err.count(needle)

    def wait_output(self, needle, count=1, timeout=IO_TIMEOUT):
        """text mode: waits until `needle` (str) appeared `count` times in
        stdout + stderr; PeerError if it did not in `timeout` seconds or
        the peer's output ended first."""
        want = needle.encode()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._output_count_locked(want) < count:
                left = deadline - time.monotonic()
                if left <= 0 or (self._out_eof and self._err_eof):
                    break
                self._cond.wait(left)
            if self._output_count_locked(want) >= count:
                return
        raise PeerError("%r did not appear %d time(s) in %ss: %s"
                        % (needle, count, timeout, self.describe()))

    def feed(self, data, close=False):
        """Writes `data` to the peer's stdin on a thread (never blocks the
        caller); with close=True stdin is closed after it."""
        self._join_feeder()
        self._feeder = threading.Thread(target=self._feed,
                                        args=(data, close), daemon=True)
        self._feeder.start()

    def close_stdin(self):
        """EOF on the peer's stdin, after everything fed so far."""
        self._join_feeder()
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def _join_feeder(self, timeout=IO_TIMEOUT):
        if self._feeder is not None:
            self._feeder.join(timeout)
            if self._feeder.is_alive():
                raise PeerError("peer did not read its stdin in %ss: %s"
                                % (timeout, self.describe()))
            self._feeder = None

    def wait_stdout(self, n, timeout=IO_TIMEOUT):
        """Waits until the peer printed >= n bytes (or its stdout closed);
        returns (count, sha256 hex) of everything printed so far."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._out_count < n and not self._out_eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._out_count, self._out_digest.hexdigest()

    def stdout_summary(self):
        with self._cond:
            return self._out_count, self._out_digest.hexdigest()

    def wait_event(self, name, timeout=IO_TIMEOUT):
        """json mode: the next event named `name`; an "error" event or the
        end of output raises PeerError."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                ev = self._events.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise PeerError("no %r event in %ss: %s"
                                % (name, timeout, self.describe()))
            if ev is None:
                self._events.put(None)  # keep the end marker for later calls
                self.wait_exit(IO_TIMEOUT)
                raise PeerError("peer ended before %r: %s"
                                % (name, self.describe()))
            if ev.get("event") == name:
                return ev
            if ev.get("event") == "error":
                raise PeerError("peer error %r (waiting for %r): %s"
                                % (ev, name, self.describe()))

    def wait_exit(self, timeout=IO_TIMEOUT):
        """Returns the exit status; kills the peer if it overruns."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise PeerError("peer did not exit in %ss: %s"
                            % (timeout, self.describe()))
        for t in self._threads:
            t.join(IO_TIMEOUT)
        return rc

    def stop(self):
        """Kills the peer's process group if still running; idempotent."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for t in self._threads:
            t.join(5)
        if self._feeder is not None:
            self._feeder.join(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


def stderr_errors(text):
    """The lines of an openssl tool's stderr that report a failure."""
    return [line for line in text.splitlines()
            if any(m.lower() in line.lower() for m in STDERR_ERROR_MARKERS)]


# ----------------------------------------------------------------------
# Readiness from the kernel (s_server -quiet prints no ACCEPT line)
# ----------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _listen_inodes(port):
    want = "%s:%04X" % ("0100007F", port)
    inodes = set()
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[1] == want and cols[3] == "0A":  # 0A = TCP_LISTEN
                    inodes.add(cols[9])
    except OSError:
        pass
    return inodes


def _socket_inodes(pid):
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for fd in names:
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def wait_listening(peer, port, timeout=START_TIMEOUT):
    """True once `peer` owns a LISTEN socket on HOST:port; False if it
    exited first.  Polls the kernel tables with a short, bounded back-off."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while time.monotonic() < deadline:
        if peer.proc.poll() is not None:
            return False
        listening = _listen_inodes(port)
        if listening and listening & _socket_inodes(peer.pid):
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    raise PeerError("server not listening after %ss: %s"
                    % (timeout, peer.describe()))


# ----------------------------------------------------------------------
# openssl s_server / s_client
# ----------------------------------------------------------------------

def _openssl_protocol_args(tls, cipher, ciphersuites):
    """s_server / s_client flags: the TLS version ("1.2", "1.3", "any"),
    the TLS 1.2 cipher list and the TLS 1.3 suites."""
    argv = {"1.2": ["-tls1_2"], "1.3": ["-tls1_3"], "any": []}[tls]
    if cipher:
        argv += ["-cipher", cipher]
    if ciphersuites:
        argv += ["-ciphersuites", ciphersuites]
    return argv


def _gnutls_version_priority(tls):
    """A GnuTLS priority string allowing only TLS `tls` ("any": None)."""
    return {"1.2": "NORMAL:-VERS-ALL:+VERS-TLS1.2",
            "1.3": "NORMAL:-VERS-ALL:+VERS-TLS1.3", "any": None}[tls]


def _interactive(argv):
    """An openssl s_server / s_client command line turned interactive:
    without -quiet / -nocommands, so a command letter alone on a stdin line
    acts (s_server: r R k K ...; s_client: R k K ...; see their man pages),
    with -msg, so every protocol message sent (">>>") and received ("<<<")
    is traced on stdout, and under `stdbuf -oL`, so those traces and the
    tools' status lines ("SSL_do_handshake -> 1") reach us when printed
    rather than when stdio's buffer fills.  stdout then mixes traces and
    application data: the peer is put in "text" mode (wait_output()).
    Caveats: a chunk of stdin that starts with a command letter is taken as
    a command, and s_server ends the connection WITHOUT close_notify at
    stdin EOF."""
    argv = [a for a in argv if a not in ("-quiet", "-nocommands")]
    return ["stdbuf", "-oL"] + argv + ["-msg"], "text"


# ----------------------------------------------------------------------
# What the tools say about a connection
# ----------------------------------------------------------------------

def openssl_summary(text):
    """The connection summary `openssl s_server|s_client -brief` printed on
    stderr: {"version": "TLSv1.2", "cipher": <OpenSSL's name; IANA's under
    TLS 1.3>, "peer_cert": whether the peer sent a certificate}, or None
    if there is none (no handshake)."""
    version = re.search(r"^Protocol version: (\S+)$", text, re.M)
    cipher = re.search(r"^Ciphersuite: (\S+)$", text, re.M)
    if not (version and cipher):
        return None
    return {"version": version.group(1), "cipher": cipher.group(1),
            "peer_cert": re.search(r"^Peer certificate: ", text, re.M)
            is not None}


def gnutls_summary(text):
    """The "- Description:" line gnutls-cli (its log) and gnutls-serv (its
    stdout) print per connection, e.g. "(TLS1.2-X.509)-(ECDHE-X25519)-
    (RSA-PSS-RSAE-SHA256)-(AES-128-GCM)": {"version": "TLSv1.2",
    "signature": "RSA-PSS-RSAE-SHA256", "cipher": "AES-128-GCM",
    "peer_cert": whether the peer sent a certificate ("- Got a certificate
    list of N certificates.")}, or None."""
    found = re.search(r"^- Description: \(TLS(1\.[0-9])-[^)]*\)-\([^)]*\)-"
                      r"\(([^)]*)\)-\(([^)]*)\)", text, re.M)
    if not found:
        return None
    return {"version": "TLSv" + found.group(1), "signature": found.group(2),
            "cipher": found.group(3),
            "peer_cert": re.search(r"^- Got a certificate list of [1-9]",
                                   text, re.M) is not None}


def text_payload(size, line=64):
    """`size` random bytes that a line-based, C-string echo server
    (gnutls-serv --echo) returns unchanged: lowercase hex in lines of
    `line` bytes, ending with a newline (one byte is just b"\n")."""
    text = bytearray(os.urandom(size // 2 + 1).hex()[:size].encode())
    for at in range(line - 1, size, line):
        text[at] = 0x0A
    text[-1] = 0x0A
    return bytes(text)


# ----------------------------------------------------------------------
# mpssl's own builds as peers
# ----------------------------------------------------------------------

def mpssl_build_dir(backend):
    """build/cpython-<backend>, under $MPSSL_BUILD_ROOT when set."""
    root = os.environ.get("MPSSL_BUILD_ROOT") or os.path.join(REPO, "build")
    return os.path.join(root, "cpython-" + backend)


def mpssl_build_exists(backend):
    """Whether the backend's build holds the `ssl` extension module."""
    base = os.path.join(mpssl_build_dir(backend), "ssl")
    return any(os.path.isfile(base + suffix)
               for suffix in importlib.machinery.EXTENSION_SUFFIXES)


@functools.lru_cache(maxsize=None)
def mpssl_info(backend):
    """What a backend's build is ({"backend", "library", "has_tls13",
    "ciphers"}, from `mpssl_peer.py info`); asked once per test session."""
    argv = [PYTHON, "-I", MPSSL_PEER, "info", "--build",
            mpssl_build_dir(backend)]
    done = subprocess.run(argv, capture_output=True, env=peer_environment(),
                          timeout=START_TIMEOUT, check=False)
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    if done.returncode != 0 or not lines:
        raise PeerError("%s failed (rc %d): %s" % (
            " ".join(argv), done.returncode,
            done.stderr.decode("utf-8", "replace").strip()))
    return json.loads(lines[-1])


# ----------------------------------------------------------------------
# A private network namespace for servers that listen on every interface
# ----------------------------------------------------------------------

NETNS_PORT = 5556   # gnutls-serv's default; nothing else lives there

# Run inside the namespace by /usr/bin/python3 -I -c, with arguments PORT
# CHANNEL_FD TIMEOUT ARGV...: brings loopback up (it starts down), starts
# ARGV, connects to PORT as soon as it listens, hands the connected socket
# to the test over CHANNEL_FD (an AF_UNIX socket it inherited) and waits
# for the server, whose exit status becomes its own.
NETNS_RELAY = r"""
import fcntl, socket, struct, subprocess, sys, time
port, channel_fd, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP, IFREQ = 0x8913, 0x8914, 0x1, "16sH22x"
with socket.socket() as s:
    flags = struct.unpack(IFREQ, fcntl.ioctl(s, SIOCGIFFLAGS,
                                             struct.pack(IFREQ, b"lo", 0)))[1]
    fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))
server = subprocess.Popen(sys.argv[4:])
deadline, delay = time.monotonic() + timeout, 0.001
while True:
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        break
    except ConnectionRefusedError:
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit("relay: the server never listened on port %d" % port)
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
with socket.socket(fileno=channel_fd) as channel:
    socket.send_fds(channel, [b"c"], [conn.fileno()])
conn.close()
sys.exit(server.wait())
"""


@functools.lru_cache(maxsize=None)
def private_netns_error():
    """None when this machine lets us make a user + network namespace
    (`unshare -rn`), else the reason why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) not installed"
    done = subprocess.run(["unshare", "-rn", "true"], capture_output=True,
                          env=peer_environment(), timeout=START_TIMEOUT,
                          check=False)
    if done.returncode != 0:
        return "unshare -rn failed: %s" % done.stderr.decode(
            "utf-8", "replace").strip()
    return None


def _receive_connection(channel, timeout):
    """The socket the namespace relay sends over `channel`, or None."""
    channel.settimeout(timeout)
    try:
        _, fds, _, _ = socket.recv_fds(channel, 16, 1)
    except OSError:
        return None
    return socket.socket(fileno=fds[0]) if fds else None


class PeerGroup:
    """Starts peers and stops every one of them at teardown.  Peers that
    log to a file (gnutls-cli) write it in `logdir`."""

    def __init__(self, logdir):
        self.logdir = str(logdir)
        self.started = []

    def _track(self, peer):
        self.started.append(peer)
        return peer

    def stop_all(self):
        for peer in self.started:
            peer.stop()

    # -- openssl -------------------------------------------------------
    def openssl_server(self, cert, key, chain=None, tls="any", cipher=None,
                       ciphersuites=None, cafile=None, verify=None,
                       extra=(), attempts=5, interactive=False):
        """`openssl s_server -quiet` serving one connection on 127.0.0.1.

        cert: leaf PEM; chain: PEM with the intermediates to send;
        verify: None (no client cert), "request" (-verify) or "require"
        (-Verify), checked against cafile.  Returns the peer; peer.port.

        interactive=True: see _interactive() (no -quiet, so the command
        letters on stdin work; stdout kept as text).
        """
        last = None
        for _ in range(attempts):
            port = _free_port()
            argv = [OPENSSL, "s_server", "-accept", "%s:%d" % (HOST, port),
                    "-naccept", "1", "-quiet", "-cert", cert, "-key", key]
            if chain:
                argv += ["-cert_chain", chain]
            argv += _openssl_protocol_args(tls, cipher, ciphersuites)
            if verify:
                argv += ["-verify_return_error",
                         "-Verify" if verify == "require" else "-verify", "4",
                         "-CAfile", cafile]
            elif cafile:
                argv += ["-CAfile", cafile]
            argv += list(extra)
            mode = "raw"
            if interactive:
                argv, mode = _interactive(argv)
            peer = self._track(PeerProcess(argv, stdout_mode=mode,
                                           name="s_server"))
            if wait_listening(peer, port):
                peer.port = port
                peer.addr = (HOST, port)
                return peer
            peer.wait_exit(5)
            last = peer
            if "in use" not in peer.stderr_text():
                break
        raise PeerError("s_server did not start: %s" % last.describe())

    def openssl_client(self, port, cafile=None, hostname="localhost",
                       tls="any", cipher=None, ciphersuites=None, cert=None,
                       key=None, chain=None, extra=(), interactive=False):
        """`openssl s_client -quiet -no_ign_eof -nocommands` to 127.0.0.1:port.

        With cafile, the server's chain and `hostname` are verified and any
        failure aborts the handshake (-verify_return_error).
        interactive=True: see _interactive()."""
        argv = [OPENSSL, "s_client", "-connect", "%s:%d" % (HOST, port),
                "-quiet", "-no_ign_eof", "-nocommands"]
        if hostname:
            argv += ["-servername", hostname]
        if cafile:
            argv += ["-verify_return_error", "-verify_quiet", "-CAfile", cafile]
            if hostname:
                argv += ["-verify_hostname", hostname]
        argv += _openssl_protocol_args(tls, cipher, ciphersuites)
        if cert:
            argv += ["-cert", cert, "-key", key]
            if chain:
                argv += ["-cert_chain", chain]
        argv += list(extra)
        mode = "raw"
        if interactive:
            argv, mode = _interactive(argv)
        return self._track(PeerProcess(argv, stdout_mode=mode,
                                       name="s_client"))

    # -- gnutls-cli ----------------------------------------------------
    def gnutls_client(self, port, cafile=None, hostname="localhost",
                      tls="any", priority=None, cert=None, key=None,
                      extra=()):
        """`gnutls-cli` to 127.0.0.1:port.  Its informational messages go to
        a log file (peer.log_text()), so stdout carries only application data; like s_client it
        sends close_notify and exits at stdin EOF, exits 0 after our
        close_notify and 1 ("non-properly terminated") after a bare FIN.
        (For gnutls-serv, see gnutls_server.)"""
        logfile = os.path.join(self.logdir,
                               "gnutls-cli-%d.log" % len(self.started))
        argv = ["gnutls-cli", "--logfile=%s" % logfile, "-p", str(port)]
        if hostname:
            argv += ["--sni-hostname", hostname]
        if cafile:
            argv += ["--x509cafile", cafile]
            if hostname:
                argv += ["--verify-hostname", hostname]
        else:
            argv += ["--insecure"]
        priority = priority or _gnutls_version_priority(tls)
        if priority:
            argv += ["--priority", priority]
        if cert:
            argv += ["--x509certfile", cert, "--x509keyfile", key]
        argv += list(extra) + [HOST]
        return self._track(PeerProcess(argv, name="gnutls-cli",
                                       logfile=logfile))

    # -- gnutls-serv ---------------------------------------------------
    def gnutls_server(self, cert, key, cafile=None, verify=None, tls="any",
                      priority=None, extra=()):
        """`gnutls-serv --echo` in a private network namespace (see the
        module docstring: it cannot be bound to loopback otherwise), with
        ONE connection already made: returns the peer, whose `connection`
        is a TCP socket connected to it, ready for our handshake.  It has
        no stdin mode: what it sends back is what it received, and only
        NUL-free lines survive (text_payload()).

        cert: the PEM chain to send (leaf first); verify: None (no client
        certificate asked: --disable-client-cert), "request" (asked, and
        verified against cafile when sent) or "require".  Raises PeerError
        when no namespace can be made here (private_netns_error())."""
        why = private_netns_error()
        if why:
            raise PeerError("gnutls-serv needs a private network namespace: "
                            + why)
        argv = ["stdbuf", "-oL", "gnutls-serv", "--echo", "--crlf",
                "--port", str(NETNS_PORT), "--x509certfile", cert,
                "--x509keyfile", key]
        if cafile:
            argv += ["--x509cafile", cafile]
        if verify is None:
            argv += ["--disable-client-cert"]
        else:
            argv += ["--verify-client-cert"]
            if verify == "require":
                argv += ["--require-client-cert"]
        priority = priority or _gnutls_version_priority(tls)
        if priority:
            argv += ["--priority", priority]
        argv += list(extra)
        ours, theirs = socket.socketpair()
        with ours:
            with theirs:
                relay = ["unshare", "-rn", PYTHON, "-I", "-c", NETNS_RELAY,
                         str(NETNS_PORT), str(theirs.fileno()),
                         str(START_TIMEOUT)]
                peer = self._track(PeerProcess(
                    relay + argv, stdout_mode="text", name="gnutls-serv",
                    pass_fds=(theirs.fileno(),)))
            # Only the relay holds `theirs` now: if it dies, recv sees EOF.
            peer.connection = _receive_connection(ours, START_TIMEOUT)
        if peer.connection is None:
            raise PeerError("gnutls-serv: no connection came out of its "
                            "namespace: %s" % peer.describe())
        return peer

    # -- mpssl on another backend ----------------------------------------
    def _mpssl(self, backend, role, args):
        argv = [PYTHON, "-I", MPSSL_PEER, role, "--build",
                mpssl_build_dir(backend)] + list(args)
        return self._track(PeerProcess(argv, stdout_mode="json",
                                       name="mpssl_peer %s %s"
                                       % (backend, role)))

    def mpssl_server(self, backend, *args, host=HOST):
        """mpssl_peer.py server on `backend`'s build, --host HOST ARGS;
        returns once it listens (peer.port, peer.addr)."""
        peer = self._mpssl(backend, "server", ["--host", host] + list(args))
        ev = peer.wait_event("listening", START_TIMEOUT)
        peer.port = ev["port"]
        peer.addr = (host, peer.port)
        return peer

    def mpssl_client(self, backend, port, *args):
        """mpssl_peer.py client on `backend`'s build, --port PORT ARGS."""
        return self._mpssl(backend, "client", ["--port", port] + list(args))

    # -- CPython's ssl -------------------------------------------------
    def _stdlib(self, role, args):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)   # `import ssl` there must be CPython's
        argv = [PYTHON, "-I", STDLIB_PEER, role] + list(args)
        return self._track(PeerProcess(argv, stdout_mode="json", env=env,
                                       name="stdlib_peer " + role))

    def stdlib_server(self, *args, host=HOST):
        """stdlib_peer.py server --host HOST ARGS; returns once it listens
        (peer.port, peer.addr).  host may be "::1"."""
        peer = self._stdlib("server", ["--host", host] + list(args))
        ev = peer.wait_event("listening", START_TIMEOUT)
        peer.port = ev["port"]
        peer.addr = (host, peer.port)
        return peer

    def stdlib_client(self, port, *args):
        """stdlib_peer.py client --port PORT ARGS."""
        return self._stdlib("client", ["--port", port] + list(args))


# ----------------------------------------------------------------------
# Our side of a transfer
# ----------------------------------------------------------------------

def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------
# A conversation with a stdin/stdout tool (s_server, s_client, gnutls-cli)
# ----------------------------------------------------------------------

def exchange_with_tool(tls, peer, size):
    """We send `size` random bytes and wait until the tool printed exactly
    them; then the tool sends `size` random bytes (fed to its stdin) and we
    read them.  Returns nothing; raises AssertionError on any mismatch."""
    ours = os.urandom(size)
    tls.sendall(ours)
    count, digest = peer.wait_stdout(size)
    assert (count, digest) == (size, sha256_hex(ours)), (
        "peer printed %d bytes (sha256 %s), we sent %d (sha256 %s)\n%s"
        % (count, digest, size, sha256_hex(ours), peer.describe()))
    theirs = os.urandom(size)
    peer.feed(theirs)
    got = recv_exactly(tls, size)
    assert len(got) == size, "we read %d of %d bytes\n%s" % (
        len(got), size, peer.describe())
    assert got == theirs, "we read other bytes than the peer sent"


def close_with_tool(tls, peer, closer, size):
    """closer "peer_closes": EOF on the tool's stdin makes it send
    close_notify, and our next read must return b''.  closer "we_close": our
    close() must send close_notify, which the tool needs to exit 0 without
    complaint.  Either way the tool must then exit 0, report no error, and
    have printed nothing beyond the `size` bytes we sent."""
    if closer == "peer_closes":
        peer.close_stdin()
        tail = tls.recv(1)
        assert tail == b"", "expected end of stream, read %r" % tail
        tls.close()
    else:
        tls.close()
    rc = peer.wait_exit()
    errors = stderr_errors(peer.stderr_text() + "\n" + peer.log_text())
    assert errors == [], peer.describe()
    assert rc == 0, peer.describe()
    assert peer.stdout_summary()[0] == size, "peer printed extra bytes"
