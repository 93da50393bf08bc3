"""Search: the retrieval library, refiners, and the `match()` orchestration."""

from synthmatch.search.library import Library
from synthmatch.search.match import Candidate, Matcher, MatchResult, match

__all__ = ["Candidate", "Library", "MatchResult", "Matcher", "match"]
