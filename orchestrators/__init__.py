"""Sample jobs, each next to its registry entry."""

from __future__ import annotations

from starters import Registry

from . import collector, eternal_monitor, long_job
from .events import EVENT_MAPPINGS

registry = Registry([long_job.SPEC, eternal_monitor.SPEC, collector.SPEC])
blueprints = [long_job.bp, eternal_monitor.bp, collector.bp]

__all__ = ["EVENT_MAPPINGS", "blueprints", "registry"]
