"""Rackshop's pure business domain: money, catalogue, seed data, orders, cards, invoices.

Shared by the monolith and every microservice; it does no I/O and imports no framework.
"""
