"""Parses an OpenMetrics exposition from stdin with the official Prometheus
client's strict parser and prints the metric family names as JSON."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

families = [f.name for f in text_string_to_metric_families(sys.stdin.read())]
print(json.dumps(families))
