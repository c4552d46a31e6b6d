"""Use cases: what the HTTP routes, the operator commands and (later) the workers do, on an explicit unit."""
