"""Entity types (presidio's names) and the category each is shown as.

Kept apart from the recognizers so that importing `pipeline.privacy` stays cheap: presidio and
spaCy load only when something is first redacted.
"""

from __future__ import annotations

PERSON = "PERSON"
EMAIL = "EMAIL_ADDRESS"
PHONE = "PHONE_NUMBER"
POSTCODE = "UK_POSTCODE"
ADDRESS = "UK_ADDRESS"
VEHICLE = "UK_VEHICLE_REGISTRATION"
URL = "URL"
NINO = "UK_NINO"
NHS = "UK_NHS"
PASSPORT = "UK_PASSPORT"
DRIVING_LICENCE = "UK_DRIVING_LICENCE"
DOB = "DATE_OF_BIRTH"
HANDLE = "SOCIAL_HANDLE"
OFFICER = "OFFICER_NUMBER"

# entity -> category; the marker is the category in brackets. Order breaks ties between
# overlapping findings of equal length (earlier wins).
CATEGORIES = {
    EMAIL: "email",
    URL: "link",
    NINO: "NI number",
    NHS: "NHS number",
    PASSPORT: "passport number",
    DRIVING_LICENCE: "driving licence",
    DOB: "date of birth",
    OFFICER: "officer number",
    VEHICLE: "vehicle reg",
    POSTCODE: "postcode",
    ADDRESS: "address",
    PHONE: "phone",
    HANDLE: "handle",
    PERSON: "name",
}
