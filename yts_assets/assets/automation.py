"""Declarative automation shared by the training assets."""

from dagster import AutomationCondition

# Rematerialize when an upstream asset changes, but only once every blocking check on the
# dependencies passed: a failed gate upstream never cascades into new models.
AFTER_UPSTREAM_PASSES = AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()
