"""The password policy of local accounts (GB/T 22239-2019 §8.1.4.1 a, MLPS level 3).

A password must be long enough, mix character classes, not contain the account's name, and
not be guessable: zxcvbn (Dropbox's estimator, with its lists of common passwords, words and
names, l33t and keyboard patterns) must rate it at least `MIN_STRENGTH`. It also may not be one
of the account's last `PASSWORD_HISTORY` passwords, and expires after the days the county sets
(`GOVCLOUD_PORTAL_PASSWORD_MAX_AGE_DAYS`; 0, the default, never). Directory accounts (LDAP)
follow the directory's own policy.
"""

from __future__ import annotations

import secrets
import string

from zxcvbn import zxcvbn

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
# Of lower case, upper case, digits and everything else (GB/T 22239's "复杂度").
MIN_CHARACTER_CLASSES = 3
# zxcvbn's score: 3 means "safely unguessable", at least 10^8 guesses (zxcvbn's README).
MIN_STRENGTH = 3
# How many earlier passwords an account may not reuse.
PASSWORD_HISTORY = 5
GENERATED_LENGTH = 20
ACCOUNT_NAME_PATTERN = r"^[A-Za-z0-9_.@-]{2,64}$"


def _classes(password: str) -> int:
    kinds = (str.islower, str.isupper, str.isdigit)
    found = {i for c in password for i, kind in enumerate(kinds) if kind(c)}
    if any(not (c.islower() or c.isupper() or c.isdigit()) for c in password):
        found.add(len(kinds))
    return len(found)


def problems(password: str, *, name: str) -> list[str]:
    """Everything wrong with this password for the account `name` (empty when it is fine)."""
    found = []
    if len(password) < MIN_PASSWORD_LENGTH:
        found.append(f"it needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        found.append(f"it may have at most {MAX_PASSWORD_LENGTH} characters")
    if _classes(password) < MIN_CHARACTER_CLASSES:
        found.append(
            f"it needs characters of at least {MIN_CHARACTER_CLASSES} kinds: lower case, "
            "upper case, digits, others"
        )
    if name and name.lower() in password.lower():
        found.append("it may not contain the account's name")
    if not found and len(password) <= MAX_PASSWORD_LENGTH:
        rating = zxcvbn(password, user_inputs=[name, *name.replace("@", ".").split(".")])
        if rating["score"] < MIN_STRENGTH:
            warning = rating["feedback"]["warning"] or "it is easy to guess"
            found.append(f"{warning.rstrip('.').lower()}: choose a longer, less common one")
    return found


def generate(name: str = "") -> str:
    """A random password that passes the policy (for new and demo accounts)."""
    alphabet = string.ascii_letters + string.digits + "-_.!"
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(GENERATED_LENGTH))
        if not problems(password, name=name):
            return password
