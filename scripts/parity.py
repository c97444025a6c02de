#!/usr/bin/python3
"""The cross-backend parity report (docs/parity.md), from test results.

    scripts/parity.py [--out FILE] XML...      writes the report (stdout
                                               without --out)
    scripts/parity.py --check FILE XML...      exit 1 and a unified diff
                                               when FILE is not what the
                                               XML gives

Input: the JUnit XML files pytest writes (--junitxml; scripts/test.sh leaves
build/results/cpython-<backend>.xml).  A file's backend is its name without
the "cpython-" prefix and the ".xml" suffix (anything after a first "." is
dropped too, so cpython-openssl.verify.xml adds to "openssl"); files of one
backend are merged.  From each <testcase> the report reads classname, name
(the function and its parametrization id in [...]), the outcome (<failure>
or <error>: failed, <skipped message=...>: skipped, else passed) and the
properties the fixtures in tests/conftest.py record:

  observed    what the backend did in that case  -> one table per test
                                                    function, case x backend
  pair        "client/server" of a cross-backend -> the client x server grid
              case
  difference  a documented backend difference    -> listed with its backends

Skip reasons "backend has no <capability>" make the capability table; other
skip reasons are counted verbatim.  The output is deterministic: no times,
no host names, everything sorted.  Standard library only.
"""

import argparse
import collections
import difflib
import os
import re
import sys
import xml.etree.ElementTree as ET

REGENERATE = "scripts/parity.py --out docs/parity.md build/results/*.xml"
CAPABILITY = re.compile(r"^backend has no (?P<capability>.+?)\.?$")
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


class Case:
    """One test case on one backend (test cases repeated in a file, e.g. a
    call failure followed by a teardown error, are merged)."""

    def __init__(self, classname, name):
        self.classname = classname
        self.name = name
        self.function, self.param = split_name(name)
        self.outcome = PASSED
        self.skip_reason = None
        self.message = ""
        self.properties = collections.defaultdict(list)

    @property
    def test_id(self):
        return "%s::%s" % (self.classname, self.name) if self.classname \
            else self.name

    @property
    def title(self):
        return "%s::%s" % (self.classname, self.function) if self.classname \
            else self.function

    def merge(self, element):
        failure = element.find("failure")
        if failure is None:
            failure = element.find("error")
        skipped = element.find("skipped")
        if failure is not None:
            if self.outcome != FAILED:
                self.message = failure.get("message") or (
                    failure.text or "").strip()
            self.outcome = FAILED
        elif skipped is not None and self.outcome == PASSED:
            self.outcome = SKIPPED
            self.skip_reason = skipped.get("message") or (
                skipped.text or "").strip()
        for prop in element.iter("property"):
            name, value = prop.get("name"), prop.get("value")
            if name and value is not None:
                self.properties[name].append(value)

    def prop(self, name):
        """The property's value (several distinct values joined, in the
        order recorded), or None."""
        values = self.values(name)
        return ", ".join(values) if values else None

    def values(self, name):
        """The property's distinct values, in the order recorded."""
        return list(dict.fromkeys(self.properties.get(name, ())))


def split_name(name):
    """("test_x", "id") for "test_x[id]"; ("test_x", None) without id."""
    if name.endswith("]") and "[" in name:
        at = name.index("[")
        return name[:at], name[at + 1:-1]
    return name, None


def backend_of(path):
    stem = os.path.basename(path)
    if stem.endswith(".xml"):
        stem = stem[:-4]
    if stem.startswith("cpython-"):
        stem = stem[len("cpython-"):]
    return stem.split(".", 1)[0] or stem


def load(paths):
    """{backend: {(classname, name): Case}} from the XML files."""
    results = collections.defaultdict(dict)
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise SystemExit("parity.py: cannot read %s: %s" % (path, exc))
        cases = results[backend_of(path)]
        for element in root.iter("testcase"):
            key = (element.get("classname") or "", element.get("name") or "")
            if key not in cases:
                cases[key] = Case(*key)
            cases[key].merge(element)
    return results


# ----------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------

def cell(text):
    text = " ".join(str(text).split())
    return text.replace("|", "\\|")


def table(header, rows):
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return lines


def shorten(text, limit=200):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def observed_cell(case):
    """What one backend did in one case, for a table cell."""
    if case is None:
        return "-"
    value = case.prop("observed")
    if case.outcome == FAILED:
        return "**FAIL** " + value if value else "**FAIL**"
    if case.outcome == SKIPPED:
        return "skip"
    return value if value is not None else "pass"


def section_header(paths, backends):
    return [
        "# Cross-backend parity report",
        "",
        "Generated by `scripts/parity.py` from the JUnit XML that "
        "`scripts/test.sh` writes (`build/results/cpython-<backend>.xml`); "
        "do not edit by hand.  To regenerate: run `scripts/test.sh`, then",
        "",
        "    " + REGENERATE,
        "",
        "Inputs: %s.  Backends: %s." % (
            ", ".join("`%s`" % os.path.basename(p) for p in sorted(paths)),
            ", ".join(backends)),
        "",
    ]


def section_totals(results, backends):
    rows = []
    for backend in backends:
        counts = collections.Counter(c.outcome for c in results[backend].values())
        rows.append([backend, counts[PASSED], counts[FAILED], counts[SKIPPED],
                     sum(counts.values())])
    return ["## Totals", ""] + table(
        ["backend", "passed", "failed", "skipped", "total"], rows) + [""]


def section_capabilities(results, backends):
    capabilities = collections.defaultdict(collections.Counter)
    others = collections.defaultdict(collections.Counter)
    for backend in backends:
        for case in results[backend].values():
            if case.outcome != SKIPPED:
                continue
            reason = case.skip_reason or "(no reason given)"
            match = CAPABILITY.match(reason)
            if match:
                capabilities[match.group("capability")][backend] += 1
            else:
                others[reason][backend] += 1
    lines = ["## Capabilities", "",
             "From the skip reasons `backend has no <capability>`: "
             "\"no\" with the number of tests skipped for it.", ""]
    if capabilities:
        rows = []
        for capability in sorted(capabilities):
            counts = capabilities[capability]
            rows.append([capability] + [
                "no (%d skipped)" % counts[b] if counts[b] else "yes"
                for b in backends])
        lines += table(["capability"] + backends, rows)
    else:
        lines.append("No test was skipped for a missing capability.")
    lines += ["", "Other skip reasons (tests skipped per backend):", ""]
    if others:
        rows = [[reason] + [others[reason][b] for b in backends]
                for reason in sorted(others)]
        lines += table(["reason"] + backends, rows)
    else:
        lines.append("None.")
    return lines + [""]


def by_function(results, backends, prop):
    """{title: {param: {backend: Case}}} of the test functions that have
    at least one case recording `prop`."""
    titles = set()
    for backend in backends:
        for case in results[backend].values():
            if case.prop(prop) is not None:
                titles.add(case.title)
    grouped = collections.defaultdict(lambda: collections.defaultdict(dict))
    for backend in backends:
        for case in results[backend].values():
            if case.title in titles:
                grouped[case.title][case.param or ""][backend] = case
    return grouped


def section_observed(results, backends):
    pair_titles = set(by_function(results, backends, "pair"))
    grouped = by_function(results, backends, "observed")
    lines = ["## Observed behaviour", "",
             "One table per test function whose cases record what the backend "
             "did (`observe`); a cell is that value, **FAIL** when the case "
             "failed, skip when it was skipped, - when it did not run.  "
             "\"differs\" marks a case whose recorded values are not the "
             "same on every backend that recorded one, \"(documented)\" when "
             "a backend recorded the difference as documented (listed "
             "below).  (Cross-backend "
             "pair tests are summarised in the grid below instead.)", ""]
    titles = [t for t in sorted(grouped) if t not in pair_titles]
    if not titles:
        return lines + ["No test recorded an observed value.", ""]
    tables = []
    total = total_differ = 0
    for title in titles:
        rows, differ = [], 0
        for param in sorted(grouped[title]):
            per_backend = grouped[title][param]
            values = {per_backend[b].prop("observed") for b in backends
                      if b in per_backend and
                      per_backend[b].prop("observed") is not None}
            mark = ""
            if len(values) > 1:
                documented = any(per_backend[b].values("difference")
                                 for b in per_backend)
                mark = "**differs** (documented)" if documented \
                    else "**differs**"
            differ += bool(mark)
            rows.append([param or "(no id)"] +
                        [observed_cell(per_backend.get(b)) for b in backends]
                        + [mark])
        total, total_differ = total + len(rows), total_differ + differ
        tables += ["### %s" % title, "",
                   "%d cases, %d differ." % (len(rows), differ), ""]
        tables += table(["case"] + backends + ["differs"], rows) + [""]
    lines += ["In all: %d cases in %d tables, %d differ." % (
        total, len(titles), total_differ), ""]
    return lines + tables


def section_pairs(results, backends):
    counts = collections.defaultdict(collections.Counter)
    for backend in backends:
        for case in results[backend].values():
            for pair in case.values("pair"):
                client, _, server = pair.partition("/")
                counts[(client, server)][case.outcome] += 1
    lines = ["## Client x server pairs", "",
             "Cases recording `pair` (client/server), over every backend's "
             "run: passed/run (skipped cases not counted), **bold** when "
             "some failed.", ""]
    if not counts:
        return lines + ["No test recorded a pair.", ""]
    clients = sorted({c for c, _ in counts})
    servers = sorted({s for _, s in counts})
    rows = []
    for client in clients:
        row = [client]
        for server in servers:
            c = counts.get((client, server))
            if not c:
                row.append("")
                continue
            ran = c[PASSED] + c[FAILED]
            text = "%d/%d" % (c[PASSED], ran) if ran else "skip"
            if c[FAILED]:
                text = "**%s (%d failed)**" % (text, c[FAILED])
            if ran and c[SKIPPED]:
                text += " (+%d skipped)" % c[SKIPPED]
            row.append(text)
        rows.append(row)
    return lines + table(["client \\ server"] + servers, rows) + [""]


def section_differences(results, backends):
    found = collections.defaultdict(lambda: collections.defaultdict(set))
    for backend in backends:
        for case in results[backend].values():
            for text in case.values("difference"):
                found[text][case.test_id].add(backend)
    lines = ["## Documented differences", "",
             "What tests assert as a documented backend difference "
             "(`difference`), with the backends and tests that recorded it.",
             ""]
    if not found:
        return lines + ["None recorded.", ""]
    for text in sorted(found):
        tests = found[text]
        recorded = sorted(set().union(*tests.values()))
        lines.append("- %s" % " ".join(text.split()))
        lines.append("  - backends: %s" % ", ".join(recorded))
        for test_id in sorted(tests):
            lines.append("  - `%s` (%s)" % (test_id, ", ".join(sorted(tests[test_id]))))
    return lines + [""]


def section_failures(results, backends):
    lines = ["## Failed tests", ""]
    rows = []
    for backend in backends:
        for key in sorted(results[backend]):
            case = results[backend][key]
            if case.outcome == FAILED:
                rows.append([backend, "`%s`" % case.test_id,
                             shorten(case.message) or "(no message)"])
    if not rows:
        return lines + ["None.", ""]
    return lines + table(["backend", "test", "message"], rows) + [""]


def report(paths):
    results = load(paths)
    backends = sorted(results)
    lines = []
    for section in (section_totals, section_capabilities, section_observed,
                    section_pairs, section_differences, section_failures):
        lines += section(results, backends)
    text = "\n".join(section_header(paths, backends) + lines)
    return text.rstrip("\n") + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Writes the cross-backend parity report (Markdown) from "
                    "pytest JUnit XML files named cpython-<backend>.xml.")
    parser.add_argument("--out", metavar="FILE",
                        help="write the report here (default: stdout)")
    parser.add_argument("--check", metavar="FILE",
                        help="exit 1 with a diff if FILE differs from the "
                             "report the XML gives")
    parser.add_argument("xml", nargs="+", metavar="XML")
    args = parser.parse_args(argv)
    if args.out and args.check:
        parser.error("--out and --check exclude each other")
    text = report(args.xml)
    if args.check:
        try:
            with open(args.check, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = ""
        if current == text:
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(True), text.splitlines(True),
            args.check, "%s (from the XML)" % args.check))
        print("%s is out of date: run scripts/parity.py --out %s "
              "build/results/*.xml to regenerate" % (args.check, args.check))
        return 1
    if args.out:
        directory = os.path.dirname(args.out)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
