"""Import RapidPro/TextIt exports (flow spec 13.0 to 14.x) into recado's model, with a report of what could
not be carried over as it was. Pure: it takes the export's text or parsed JSON; reading files is the caller's."""

from flows.rapidpro.document import MAX_DEPTH, MAX_EXPORT_BYTES
from flows.rapidpro.importer import import_export
from flows.rapidpro.report import ImportCounts, ImportReport, ReportEntry, Severity

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPORT_BYTES",
    "ImportCounts",
    "ImportReport",
    "ReportEntry",
    "Severity",
    "import_export",
]
