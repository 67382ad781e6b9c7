"""The eDRV webhook event types evlog turns into observations.

Apart from the parser (`evlog._sources.edrv`) so that the report declarations that name them
import no parsing machinery.
"""

ONLINE_EVENT = "chargestation.online"
OFFLINE_EVENT = "chargestation.offline"
CONNECTOR_STATUS_EVENT = "chargestation.connector_status.updated"
