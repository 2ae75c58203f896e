"""Reads `wrk --latency` output on stdin; prints one line: LABEL requests/s p50-ms p99-ms ok|errors
(the label is argv[1:], joined)."""
import re, sys

text = sys.stdin.read()


def quantile(p):
    m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % re.escape(p), text)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)] if m else float("nan")


rate = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
errors = "Non-2xx" in text or "Socket errors" in text
print(" ".join(sys.argv[1:]), rate, "%.2f" % quantile("50"), "%.2f" % quantile("99"), "errors" if errors else "ok")
