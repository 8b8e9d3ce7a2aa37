"""'Did you mean …?' for misspelt keys and values."""

from __future__ import annotations

from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word`` if it is close enough to be a likely typo, else None."""
    import difflib  # only paid for when there is a mistake to explain

    candidates = list(choices)
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:  # a case slip: "useWrapper" for "usewrapper"
        return lowered[word.lower()]
    normalised = {c.replace("_", "").replace("-", "").lower(): c for c in candidates}
    key = word.replace("_", "").replace("-", "").lower()
    if key in normalised:  # "build-steps" for "build_steps"
        return normalised[key]
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.7)
    return matches[0] if matches else None
