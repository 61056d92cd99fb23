"""gunicorn configuration for every web process of both architectures.

Read from the environment the lab gives each process (archlab/platforms/local.py), so
it sizes each process from the cores it gives the system under test (`WEB_WORKERS`,
`WEB_THREADS`) and applies the stack setting `WEB_KEEPALIVE` (archlab/config.py
STACK_SETTINGS, recorded with every run). Everything else is fixed here. Binds loopback
by default (`BIND_HOST`, e.g. 0.0.0.0 in a container, compose/*.yml): the process's port
(`PORT`), shared by its replicas, and a replica's private port (`REPLICA_PORT`), where the
lab checks that one replica's health.
"""

import os
import socket

from gunicorn.workers.gthread import TConn, ThreadWorker

# A replica's private port: health checks on the shared port reach whichever replica the
# kernel picks, so the lab asks each replica on a port of its own.
# Loopback unless BIND_HOST says otherwise: a container binds 0.0.0.0 so its network reaches it.
_host = os.environ.get("BIND_HOST") or "127.0.0.1"
bind = [f"{_host}:{os.environ.get('PORT', '8000')}"] + (
    [f"{_host}:{os.environ['REPLICA_PORT']}"] if os.environ.get("REPLICA_PORT") else [])
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# A stack setting (default 75 s): above the clients' idle time, so pooled keep-alive
# connections are not cut under them (a cut connection costs a reconnect and may surface
# as an error). The lab accepts any number >= 0; gunicorn takes whole seconds.
keepalive = round(float(os.environ.get("WEB_KEEPALIVE", "75")))
timeout = 30
# gunicorn's largest request line (its default is 4094): a query the app can answer with
# its own 4xx (a 422 for a bad page number) reaches it instead of gunicorn's bare 414,
# which the contract does not list.
limit_request_line = 8190
graceful_timeout = 10
# Several gunicorn masters on one port (replicas) share it through SO_REUSEPORT.
reuse_port = True
# gunicorn 27 opens a control socket at a fixed default path; replicas would collide.
control_socket_disable = True
accesslog = None
errorlog = "-"
# Fixed, not read from the environment: at "info" or "debug" gunicorn writes more per
# request, which would change what a run measures without being recorded.
loglevel = "warning"
proc_name = os.environ.get("ARCHLAB_PROCESS_NAME", "archlab-web")


class LeavingThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, except that a stopping worker leaves its ports at once.

    A stock gthread worker that is told to stop only stops accepting: its listening
    socket stays open (and in the port's SO_REUSEPORT group) until it has finished, so
    the kernel keeps queueing new connections there for up to the linger of its
    kept-alive connections, then resets them all when the socket closes. This worker
    accepts what is already queued and shuts the listening socket down straight away
    (shutdown, not close: the master and the other workers share it), so new connections
    go to the other replicas; only one that lands in the instant between the last
    accept and the shutdown is reset. The rest of the stop is gthread's own: requests in
    flight finish, kept-alive connections are answered with "Connection: close".
    Requests are served exactly as by gthread, so what a run measures does not change.
    """

    def handle_exit(self, sig, frame):
        """SIGTERM: gthread's graceful stop, and leave the ports from the main loop."""
        if self.alive:
            super().handle_exit(sig, frame)
            self.method_queue.defer(self.leave_ports)

    def leave_ports(self):
        """Accept the connections queued on each listening socket, then shut it down."""
        self.set_accept_enabled(False)
        for listener in self.sockets:
            listener.setblocking(False)
            while True:
                try:
                    client, address = listener.accept()
                except OSError:
                    # Nothing queued (EAGAIN), or another worker shut it down (EINVAL).
                    break
                self.nr_conns += 1
                client.setblocking(True)
                self.enqueue_req(TConn(self.cfg, client, address, listener.getsockname()))
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already shut down by another worker of this master


worker_class = LeavingThreadWorker
