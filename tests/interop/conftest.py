"""The interop suites' shared parameters live in matrix.py next to this
file; the fixtures (peers, connect_tls, accept_tls, ...) in tests/conftest.py."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
