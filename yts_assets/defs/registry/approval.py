"""Manual approval from the Dagster UI: `promote_candidate` promotes or rejects a recorded candidate.

Launch it from the UI's launchpad with run config; it goes through the same registry code and
verification as `yts-registry promote` and the admin API, so it writes the same audit record. The
actor is the Dagster user who launched the run (the `dagster/user` tag), else `yts/actor`, else "dagster-ui".
"""

from typing import Literal

from dagster import Config, Failure, MetadataValue, OpExecutionContext, job, op
from pydantic import Field

from ...core.registry import RegistryError, find_run, promote, reject_candidate
from ...resources import YtsSettings


class CandidateDecision(Config):
    run_id: str = Field(min_length=1, description="the recorded candidate (see yts-registry list, or /mlops/registry)")
    decision: Literal["promote", "reject"] = Field(default="promote", description="promote: make it active; "
                                                   "reject: it may never be promoted")
    reason: str = Field(min_length=1, description="why, for the audit log")


def actor_of(tags: dict[str, str]) -> str:
    return f"dagster:{tags.get('dagster/user') or tags.get('yts/actor') or 'dagster-ui'}"


@op(description="Promote or reject the candidate through the registry (verified, audited); fails with the reason "
                "when the registry refuses.")
def decide_candidate(context: OpExecutionContext, config: CandidateDecision, settings: YtsSettings) -> None:
    actor = actor_of(context.run.tags)
    change = promote if config.decision == "promote" else reject_candidate
    try:
        registry = change(settings.paths(), config.run_id, reason=config.reason, actor=actor)
    except RegistryError as exc:
        raise Failure(description=f"{config.decision} {config.run_id} refused: {exc}") from exc
    record = find_run(registry, config.run_id)
    context.log.info(f"{config.run_id}: {record['status']} by {actor}; active run {registry['active_run_id']}")
    context.add_output_metadata({"active_run_id": MetadataValue.text(str(registry["active_run_id"])),
                                 "status": MetadataValue.text(record["status"]), "actor": MetadataValue.text(actor)})


@job(description="Manual approval: promote or reject a recorded candidate (run config: run_id, decision, reason). "
                 "Same registry code, verification and audit as yts-registry and the admin API.",
     tags={"yts/trigger": "approval"})
def promote_candidate() -> None:
    decide_candidate()
