"""Phone numbers in E.164, reading the forms Chileans write (9 1234 5678, +56 9 1234 5678)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberFormat, ValidationResult


def to_e164(raw: str | None, region: str = "CL") -> str | None:
    if not raw:
        return None
    text = raw.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    candidates = [text]
    bare = "".join(ch for ch in text if ch.isdigit())
    if not text.startswith("+") and len(bare) >= 10:
        # A shared contact's number may come as digits with the country code and no plus
        # (WhatsApp's wa_id always does).
        candidates.insert(0, "+" + bare)
    for cand in candidates:
        try:
            number = phonenumbers.parse(cand, region)
        except phonenumbers.NumberParseException:
            continue
        # Newly assigned ranges lag behind the library's metadata, so a number of the right
        # length for its country is accepted even when its range is not known yet.
        if phonenumbers.is_valid_number(number) or (
            phonenumbers.is_possible_number_with_reason(number) == ValidationResult.IS_POSSIBLE
        ):
            return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return None
