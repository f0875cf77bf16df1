"""The daemon's control socket API, typed and defined once (docs/api.md's reference is generated
from it): the methods with their parameter and result dataclasses (methods.py), the status
(status.py), the codec and the error codes (wire.py), the client core both clients share
(client.py) and the reference's text (reference.py). Pure: it imports nothing of the coach but
itself, so every layer may use it."""
