"""Wiring: configuration, command line, Lambda handlers, logging."""
