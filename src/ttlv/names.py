"""Normalized names: how KMIP spec names are spelled in the XML (and JSON) encodings.

KMIP Profiles v1.4 ("Normalizing Names") turns a specification name such as "Protocol Version
Major", "SHA-256" or "3DES" into an identifier-like name ("ProtocolVersionMajor", "SHA_256",
"DES3"), used for element names (tags), Enumeration values and mask bits. The rules, in order:

1. round brackets become spaces;
2. a non-word character (anything but a letter, digit or underscore) followed by a letter and
   then a lowercase letter becomes a space (a word break: "Pre-Active", "IV/Counter/Nonce");
3. every other non-word character except white space becomes an underscore ("SHA-256",
   "X.509", "PKCS#1", "HMAC-SHA256");
4. if the first word starts with digits, they move to the end of that word ("3DES" -> "DES3");
5. each word gets an upper-case first letter, the rest of the word is left as it is;
6. the words are joined without spaces.

The generator (tools/gen_registry.py) applies ``normalize`` to every spec name and writes the
results into ``ttlv.kmip14``; nothing here runs at import time.
"""

from __future__ import annotations

import re

__all__ = ["normalize"]

_BRACKETS = re.compile(r"[()]")
_WORD_BREAK = re.compile(r"[^\w\s](?=[A-Za-z][a-z])", re.ASCII)
_OTHER = re.compile(r"[^\w\s]", re.ASCII)
_LEADING_DIGITS = re.compile(r"^([0-9]+)(\S*)")


def normalize(spec_name: str) -> str:
    """The normalized (XML/JSON) spelling of a KMIP specification name."""
    text = _BRACKETS.sub(" ", spec_name)
    text = _WORD_BREAK.sub(" ", text)
    text = _OTHER.sub("_", text)
    words = text.split()
    if words:
        words[0] = _LEADING_DIGITS.sub(r"\2\1", words[0])
    return "".join(word[:1].upper() + word[1:] for word in words)
