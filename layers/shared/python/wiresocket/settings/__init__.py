"""Settings models, one module per function (``base`` holds what they share).

A function imports only its own model: each frozen dataclass costs its cold start about half a millisecond to
build, and the token function and the ``$connect`` authorizer have a cold-start budget (docs/websocket.md
"Cold start"). ``wiresocket.config`` gathers them all for the tooling (CDK app, local stack, tests).
"""
