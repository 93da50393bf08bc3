"""Search: proposal sources, the retrieval library, refiners, and the `match()` pipeline."""

from synthmatch.search.config import MatchConfig
from synthmatch.search.estimator import Estimator  # registers the "estimator" proposal source
from synthmatch.search.library import Library
from synthmatch.search.match import Matcher, MatchResult, match
from synthmatch.search.population import GARefiner  # registers the "ga" refiner
from synthmatch.search.proposals import SOURCES, Origin, Proposal, register_source
from synthmatch.search.refine import REFINERS, register_refiner
from synthmatch.search.stages import Candidate

__all__ = [
    "REFINERS",
    "SOURCES",
    "Candidate",
    "Estimator",
    "GARefiner",
    "Library",
    "MatchConfig",
    "MatchResult",
    "Matcher",
    "Origin",
    "Proposal",
    "match",
    "register_refiner",
    "register_source",
]
