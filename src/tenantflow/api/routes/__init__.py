"""Thin routers: parse, admit the caller, call a service with an explicit unit, shape the answer."""
