"""`tls`: the same module object as `ssl` (MicroPython's libraries import tls)."""
import sys
import ssl

sys.modules[__name__] = ssl
