"""The gateway: the only public entry. It serves the public API composed from the
services, and the shop's pages through an HTTP backend; it verifies customer tokens
itself and never forwards a customer's request to an internal endpoint."""
