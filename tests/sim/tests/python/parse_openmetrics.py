"""Parses an OpenMetrics exposition from stdin with the official Prometheus
client's strict parser and prints its families as one JSON document.

Usage: parse_openmetrics.py < exposition
Prints {"families": [{"name", "type", "samples": [{"name", "labels",
"value"}]}]}. Values are strings (Python's float text, e.g. "0.5", "inf",
"nan") so non-finite values survive JSON. Exits non-zero with the parser's
error if the exposition is not valid OpenMetrics 1.0 text.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> None:
    families = [
        {
            "name": family.name,
            "type": family.type,
            "samples": [
                {
                    "name": sample.name,
                    "labels": dict(sample.labels),
                    "value": str(float(sample.value)),
                }
                for sample in family.samples
            ],
        }
        for family in text_string_to_metric_families(sys.stdin.read())
    ]
    print(json.dumps({"families": families}))


if __name__ == "__main__":
    main()
