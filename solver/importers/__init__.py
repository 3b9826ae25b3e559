"""Bridges from peer tools (Mélange, AIBrix) to fleetopt problem files.

Both tools describe a fleet by *profiled* capacities: for each GPU type, the
highest request rate one unit sustains under the SLO, per request-size bucket.
The importers turn those into a fleetopt problem whose capacities are those
measured figures (``measurements:``), priced per hour (``horizon_hours: 1``)
with the tool's own prices (``fleet.offers``), so plans can be compared side
by side.  A capacity of 0 means "cannot serve" (never a division by zero).
"""

from solver.importers.common import ImportResult
from solver.importers.melange import import_melange
from solver.importers.aibrix import import_aibrix

__all__ = ["ImportResult", "import_melange", "import_aibrix"]
