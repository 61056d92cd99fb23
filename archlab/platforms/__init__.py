"""Platforms run a stack: local (embedded, the default); compose and k8s come later."""
