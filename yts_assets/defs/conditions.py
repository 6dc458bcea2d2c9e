"""Declarative automation shared by the training assets."""

from dagster import AssetSelection, AutomationCondition

# Rematerialize when an upstream asset changes, but only once every blocking check on the
# dependencies passed: a failed gate upstream never cascades into new models.
AFTER_UPSTREAM_PASSES = AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()
# supervised_bundle reads hpo_study when it exists; a study that was never run must not hold it back.
AFTER_UPSTREAM_PASSES_HPO_OPTIONAL = (AutomationCondition.eager().ignore(AssetSelection.assets("hpo_study"))
                                      & AutomationCondition.all_deps_blocking_checks_passed())
