"""The shop's pages for people, written once against the ShopBackend interface.

The monolith plugs in an in-process backend (its service layer), the microservices
gateway an HTTP backend (the services). No page view knows which one it runs on.
"""
