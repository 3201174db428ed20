"""A local, stateful stand-in for Whop, for development and tests only.

Nothing in the application imports this package; it depends on nothing in `mentora`
but itself. See README.md in this directory.
"""

from mentora.emulator.app import Emulator
from mentora.emulator.config import DEMO, DemoIds, EmulatorConfig
from mentora.emulator.faults import Fault
from mentora.emulator.webhooks import Attempt, WebhookRecord

__all__ = ["DEMO", "Attempt", "DemoIds", "Emulator", "EmulatorConfig", "Fault", "WebhookRecord"]
