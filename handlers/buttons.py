"""Button payloads signed per person: a forged or someone else's button is refused.

A payload is at most ``max_bytes``: the least any channel in use carries
(``Capabilities.action_bytes``). The signature takes 9 of them."""

from __future__ import annotations

import base64
import hashlib
import hmac

SIG_CHARS = 8
SEP = "|"


class ButtonCodec:
    def __init__(self, secret: bytes, max_bytes: int) -> None:
        self._secret = secret
        self.max_bytes = max_bytes

    def _sig(self, person_id: int, action: str) -> str:
        mac = hmac.new(self._secret, f"{person_id}{SEP}{action}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:6]).decode()

    def pack(self, person_id: int, action: str) -> str:
        data = f"{action}{SEP}{self._sig(person_id, action)}"
        if SEP in action or len(data.encode()) > self.max_bytes:
            raise ValueError(f"button action too long or malformed: {action!r}")
        return data

    def unpack(self, person_id: int, data: str) -> str | None:
        action, sep, sig = data.rpartition(SEP)
        if not sep or len(sig) != SIG_CHARS:
            return None
        # compare_digest refuses non-ASCII str; a forged payload may be anything.
        if not hmac.compare_digest(sig.encode(), self._sig(person_id, action).encode()):
            return None
        return action
