"""RFC 9110's field grammar shared by the request parser and the response side.

``TOKEN`` is the regular expression of a token (section 5.6.2); ``is_token`` matches a
whole one; ``has_forbidden_value_byte`` finds CR, LF or NUL, which are never valid in a
field value (section 5.5).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["TOKEN", "has_forbidden_value_byte", "is_token"]

TOKEN: Final = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
is_token: Final = re.compile(TOKEN).fullmatch
has_forbidden_value_byte: Final = re.compile(rb"[\x00\r\n]").search
