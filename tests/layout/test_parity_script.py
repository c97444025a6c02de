"""scripts/parity.py, the parity report generator, on a small hand-written
pair of JUnit XML files: every section of the report, the "differs"
marker, determinism, and the --check exit status."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "parity.py"

# What pytest 7 writes with --junitxml (times and host name included: the
# report must not show them).
OPENSSL_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1"
 tests="8" time="3.2" timestamp="2030-01-01T00:00:00" hostname="ci-1">
<testcase classname="parity.test_x" name="test_codes[client-a]" time="0.1">
 <properties><property name="observed" value="ERR_X" /></properties></testcase>
<testcase classname="parity.test_x" name="test_codes[client-b]" time="0.1">
 <properties><property name="observed" value="ERR_Y" /></properties></testcase>
<testcase classname="parity.test_x" name="test_codes[client-c]" time="0.1">
 <properties><property name="observed" value="ERR_Q" /></properties></testcase>
<testcase classname="parity.test_x" name="test_codes[tls13]" time="0.1">
 <properties><property name="observed" value="ok" /></properties></testcase>
<testcase classname="interop.test_p" name="test_pairs[1]" time="0.1">
 <properties><property name="pair" value="openssl/stdlib" /></properties></testcase>
<testcase classname="interop.test_p" name="test_pairs[2]" time="0.1">
 <properties><property name="pair" value="openssl/stdlib" />
 <property name="pair" value="openssl/stdlib" /></properties>
 <failure message="AssertionError: boom | pipe">Traceback ...</failure></testcase>
<testcase classname="conformance.test_y" name="test_plain" time="0.1" />
<testcase classname="conformance.test_y" name="test_v6" time="0.0">
 <skipped type="pytest.skip" message="no IPv6 loopback on this machine">x.py:1: no IPv6 loopback on this machine</skipped></testcase>
</testsuite></testsuites>
"""

BEARSSL_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="1"
 tests="6" time="1.7" timestamp="2030-01-02T00:00:00" hostname="ci-2">
<testcase classname="parity.test_x" name="test_codes[client-a]" time="0.2">
 <properties><property name="observed" value="ERR_X" /></properties></testcase>
<testcase classname="parity.test_x" name="test_codes[client-b]" time="0.2">
 <properties><property name="observed" value="ERR_Z" />
 <property name="difference" value="bearssl: says Z, documented." /></properties></testcase>
<testcase classname="parity.test_x" name="test_codes[client-c]" time="0.2">
 <properties><property name="observed" value="ERR_R" /></properties></testcase>
<testcase classname="parity.test_x" name="test_codes[tls13]" time="0.0">
 <skipped type="pytest.skip" message="backend has no TLS 1.3">x.py:9: backend has no TLS 1.3</skipped></testcase>
<testcase classname="interop.test_p" name="test_pairs[1]" time="0.1">
 <properties><property name="pair" value="bearssl/stdlib" /></properties></testcase>
<testcase classname="conformance.test_y" name="test_plain" time="0.1" />
</testsuite></testsuites>
"""


@pytest.fixture
def results(tmp_path):
    """The two XML files, named as scripts/test.sh names them."""
    paths = []
    for backend, text in (("openssl", OPENSSL_XML), ("bearssl", BEARSSL_XML)):
        path = tmp_path / ("cpython-%s.xml" % backend)
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return paths


def run(*args):
    return subprocess.run([str(SCRIPT)] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)


def report(*paths):
    proc = run(*paths)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_script_is_an_executable_for_debians_python():
    assert os.access(str(SCRIPT), os.X_OK)
    assert SCRIPT.read_text(encoding="utf-8").startswith("#!/usr/bin/python3\n")


def test_header_says_generated_and_how_to_regenerate(results):
    text = report(*results)
    assert text.startswith("# ")
    assert "`scripts/parity.py`" in text and "`scripts/test.sh`" in text
    assert "do not edit by hand" in text
    assert "scripts/parity.py --out docs/parity.md build/results/*.xml" in text


def test_totals_per_backend(results):
    lines = report(*results).splitlines()
    assert "| backend | passed | failed | skipped | total |" in lines
    assert "| bearssl | 5 | 0 | 1 | 6 |" in lines
    assert "| openssl | 6 | 1 | 1 | 8 |" in lines


def test_capabilities_come_from_skip_reasons(results):
    lines = report(*results).splitlines()
    assert "| capability | bearssl | openssl |" in lines
    assert "| TLS 1.3 | no (1 skipped) | yes |" in lines
    assert "| no IPv6 loopback on this machine | 0 | 1 |" in lines


def test_observed_table_marks_the_rows_that_differ(results):
    text = report(*results)
    lines = text.splitlines()
    assert "### parity.test_x::test_codes" in lines
    assert "4 cases, 2 differ." in lines
    assert "In all: 4 cases in 1 tables, 2 differ." in lines
    assert "| case | bearssl | openssl | differs |" in lines
    assert "| client-a | ERR_X | ERR_X |  |" in lines
    assert "| client-b | ERR_Z | ERR_Y | **differs** (documented) |" in lines
    assert "| client-c | ERR_R | ERR_Q | **differs** |" in lines
    assert "| tls13 | skip | ok |  |" in lines
    # Rows are sorted; functions without `observed` get no table, and the
    # pair test is in the grid only.
    assert lines.index("| client-a | ERR_X | ERR_X |  |") < lines.index(
        "| tls13 | skip | ok |  |")
    assert "test_plain" not in text
    assert "### interop.test_p::test_pairs" not in text


def test_pairs_collapse_into_a_client_by_server_grid(results):
    lines = report(*results).splitlines()
    assert "| client \\ server | stdlib |" in lines
    assert "| bearssl | 1/1 |" in lines
    # A case recording the same pair twice counts once; failures are bold.
    assert "| openssl | **1/2 (1 failed)** |" in lines


def test_documented_differences_and_failures_are_listed(results):
    lines = report(*results).splitlines()
    at = lines.index("- bearssl: says Z, documented.")
    assert lines[at + 1] == "  - backends: bearssl"
    assert lines[at + 2] == (
        "  - `parity.test_x::test_codes[client-b]` (bearssl)")
    assert ("| openssl | `interop.test_p::test_pairs[2]` | "
            "AssertionError: boom \\| pipe |") in lines


def test_report_is_deterministic(results):
    text = report(*results)
    assert report(*reversed(results)) == text
    for volatile in ("ci-1", "2030-01-01", "3.2", "time"):
        assert volatile not in text


def test_out_writes_what_stdout_shows(results, tmp_path):
    out = tmp_path / "docs" / "parity.md"
    proc = run("--out", out, *results)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert out.read_text(encoding="utf-8") == report(*results)


def test_check_passes_when_current_and_fails_with_a_diff(results, tmp_path):
    out = tmp_path / "parity.md"
    assert run("--out", out, *results).returncode == 0
    proc = run("--check", out, *results)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stdout

    out.write_text(out.read_text(encoding="utf-8").replace(
        "| client-a | ERR_X | ERR_X |  |", "| client-a | ERR_X | ERR_W |  |"),
        encoding="utf-8")
    proc = run("--check", out, *results)
    assert proc.returncode == 1
    assert "-| client-a | ERR_X | ERR_W |  |" in proc.stdout
    assert "+| client-a | ERR_X | ERR_X |  |" in proc.stdout
    assert "to regenerate" in proc.stdout

    proc = run("--check", tmp_path / "missing.md", *results)
    assert proc.returncode == 1


def test_unreadable_xml_is_an_error(tmp_path):
    bad = tmp_path / "cpython-openssl.xml"
    bad.write_text("<testsuites><testcase", encoding="utf-8")
    proc = run(bad)
    assert proc.returncode != 0
    assert "cannot read" in proc.stderr
