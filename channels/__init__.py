"""What a channel can show, declared as data, and the neutral layout of a reply within it.

The core says what a reply means (services.messages.Outgoing); each channel in bot/ declares
its Capabilities and renders within them. Nothing here knows a platform."""

from channels.capabilities import LEAST, Capabilities

__all__ = ["LEAST", "Capabilities"]
