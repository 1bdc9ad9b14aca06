"""Which events start which sample job: the declarative mapping, next to the jobs."""

from starters import OnRunning
from starters.events.mapping import EventMapping

EVENT_MAPPINGS = [
    # A report request from any producer: one report per reportId at a time.
    EventMapping(
        event_type="Contoso.Reports.ReportRequested",
        orchestrator="long_job",
        instance_id="report-{data.reportId}",
        input={"duration_s": "{data.duration_s}", "reportId": "{data.reportId}"},
    ),
    # A blob landed (Event Grid, Storage): fold it into the container's running collector.
    EventMapping(
        event_type="Microsoft.Storage.BlobCreated",
        orchestrator="collector",
        instance_id="blobs-{data.url|slug}",
        input={"item": "{subject}", "window_s": 30},
        on_running=OnRunning.FORWARD,
    ),
]
