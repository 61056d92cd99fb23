"""gunicorn configuration for every web process of both architectures.

Read from the environment the lab gives each process (archlab/platforms/local.py), so
it sizes each process from the cores it gives the system under test (`WEB_WORKERS`,
`WEB_THREADS`) and applies the stack setting `WEB_KEEPALIVE` (archlab/config.py
STACK_SETTINGS, recorded with every run). Everything else is fixed here. Binds loopback
only.
"""

import os

bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "8"))
# A stack setting (default 75 s): above the clients' idle time, so pooled keep-alive
# connections are not cut under them (a cut connection costs a reconnect and may surface
# as an error). The lab accepts any number >= 0; gunicorn takes whole seconds.
keepalive = round(float(os.environ.get("WEB_KEEPALIVE", "75")))
timeout = 30
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
