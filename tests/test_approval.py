"""Manual approval from the Dagster UI: the promote_candidate job, through the same registry code as the CLI."""

from __future__ import annotations

import pytest

from tests.conftest import another_training, run_graph
from yts_assets.cli.run import failure_reasons
from yts_assets.core.paths import ProjectPaths
from yts_assets.core.registry import find_run, load_registry, read_audit
from yts_assets.definitions import build_definitions


def decide(instance, run_id: str, decision: str = "promote", user: str = "alice@example.org"):
    job = build_definitions().resolve_job_def("promote_candidate")
    config = {"ops": {"decide_candidate": {"config": {"run_id": run_id, "decision": decision,
                                                       "reason": "reviewed the CV metrics in the UI"}}}}
    return job.execute_in_process(run_config=config, instance=instance, raise_on_error=False,
                                  tags={"dagster/user": user})


@pytest.mark.slow
def test_a_candidate_is_promoted_or_rejected_from_a_dagster_job(project: ProjectPaths, instance, first_run):
    manual = another_training(promotion_policy="manual")
    second = run_graph(instance, run_config=manual)
    third = run_graph(instance, run_config={**manual, "ops": {"supervised_bundle": {"config": {"random_seed": 11}}}})
    assert second.success and third.success
    registry = load_registry(project)
    assert registry["active_run_id"] == first_run
    assert find_run(registry, second.run_id)["status"] == find_run(registry, third.run_id)["status"] == "candidate"

    assert decide(instance, second.run_id).success
    registry = load_registry(project)
    assert registry["active_run_id"] == second.run_id
    audit = read_audit(project)[-1]
    assert (audit["action"], audit["actor"], audit["reason"]) == ("promote", "dagster:alice@example.org",
                                                                  "reviewed the CV metrics in the UI")
    assert audit["previous_active_run_id"] == first_run

    assert decide(instance, third.run_id, "reject", user="bob").success
    assert find_run(load_registry(project), third.run_id)["status"] == "rejected"
    assert read_audit(project)[-1]["actor"] == "dagster:bob"
    refused = decide(instance, third.run_id)
    assert not refused.success
    assert any(f"promote {third.run_id} refused: run {third.run_id} was rejected" in message
               for _, message in failure_reasons(refused))
    assert load_registry(project)["active_run_id"] == second.run_id
    unknown = decide(instance, "no-such-run")
    assert any("unknown run 'no-such-run'" in message for _, message in failure_reasons(unknown))
