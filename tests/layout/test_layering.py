"""The layering rules of the design, checked on the source tree:
ports -> core/mpssl.h -> core -> core/backend.h -> backends.

- core/ includes neither Python headers nor any TLS library header;
- a backend includes its own library and core/backend.h, nothing from ports/;
- a port includes core/mpssl.h and its interpreter's headers, never a TLS
  library header nor core internals.
"""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
TLS_LIBRARIES = ("openssl/", "mbedtls/", "psa/", "gnutls/", "bearssl")
BACKEND_LIBRARY = {"openssl": "openssl/", "mbedtls": ("mbedtls/", "psa/"),
                   "gnutls": "gnutls/", "bearssl": "bearssl"}
CORE_INTERNALS = ("internal.h", "backend.h", "pem.h", "der.h", "suites.h",
                  "hostname.h")


def includes(path):
    return INCLUDE.findall(path.read_text(encoding="utf-8"))


def sources(folder):
    files = sorted((ROOT / folder).rglob("*.[ch]"))
    assert files, f"no C sources under {folder}/"
    return files


def test_tree_has_the_expected_layers():
    for folder in ("core", "backends", "ports"):
        assert (ROOT / folder).is_dir()
    assert (ROOT / "core" / "mpssl.h").is_file()
    assert (ROOT / "core" / "backend.h").is_file()


@pytest.mark.parametrize("path", sources("core"), ids=lambda p: p.name)
def test_core_includes_no_python_and_no_tls_library(path):
    for header in includes(path):
        assert "Python" not in header, f"{path.name} includes {header}"
        assert not header.startswith(TLS_LIBRARIES), f"{path.name} includes {header}"


@pytest.mark.parametrize("path", sources("backends"), ids=lambda p: p.name)
def test_backend_includes_only_its_library_and_the_vtable(path):
    own = BACKEND_LIBRARY[path.stem]
    for header in includes(path):
        assert not header.startswith("ports/") and "Python" not in header
        if header.startswith(TLS_LIBRARIES):
            assert header.startswith(own), f"{path.name} includes {header}"
        if header in CORE_INTERNALS:
            assert header == "backend.h", f"{path.name} includes core/{header}"


@pytest.mark.parametrize("path", sources("ports"), ids=lambda p: str(p.relative_to(ROOT)))
def test_port_includes_no_tls_library_and_no_core_internals(path):
    for header in includes(path):
        assert not header.startswith(TLS_LIBRARIES), f"{path} includes {header}"
        assert header not in CORE_INTERNALS, f"{path} includes core/{header}"


@pytest.mark.parametrize("path", sources("backends"), ids=lambda p: p.name)
def test_every_backend_file_ends_in_its_vtable(path):
    text = path.read_text(encoding="utf-8").rstrip()
    table = text.rfind("const mpssl_backend mpssl_backend_impl = {")
    assert table != -1, f"{path.name} defines no mpssl_backend_impl table"
    assert text.endswith("};"), f"{path.name} does not end with its table"
    assert "\n}" not in text[table:text.rfind("};")], "code after the vtable"
