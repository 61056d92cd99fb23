"""Load tests: the personas (locustfile.py) and the load shapes (shapes.py).

Only locustfile.py imports locust, and it runs only inside its own `python -m locust`
process: locust patches the standard library with gevent when it is imported.
"""
