"""RAKE keyword extraction (Rose, Engel, Cramer & Cowley, "Automatic Keyword Extraction from Individual
Documents", 2010), implemented here because rake-nltk downloads NLTK data when imported.

Candidates are maximal runs of content words between stopwords, punctuation and numbers (numbers are
not concepts here: with them every arithmetic prompt would be a new concept). A word scores
deg(w)/freq(w) (deg = Σ lengths of the candidates holding it); a phrase scores the sum of its words.
PASER (He et al. 2025, §3.4) uses the phrases as the concepts of its concept-consistency graph.
Pure Python, no Spark.
"""
from __future__ import annotations

import re
from collections import defaultdict

# A compact English stopword list (function words, auxiliaries, pronouns, instruction boilerplate verbs
# are NOT in it: "translate", "summarize" are concepts of a task).
STOPWORDS: frozenset[str] = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being
below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down
during each either else etc ever every few for from further get gets got had hadn't has hasn't have
haven't having he he'd he'll he's her here here's hers herself him himself his how how's however i i'd
i'll i'm i've if in into is isn't it it's its itself just let's may me might more most much must
mustn't my myself neither no nor not now of off often on once only or other ought our ours ourselves
out over own per please rather same shall shan't she she'd she'll she's should shouldn't since so some
such than that that's the their theirs them themselves then there there's these they they'd they'll
they're they've this those though through thus to too under until up upon us very via was wasn't we
we'd we'll we're we've were weren't what what's when when's where where's whether which while who
who's whom whose why why's will with within without won't would wouldn't yet you you'd you'll you're
you've your yours yourself yourselves one two three given following using use used following
""".split())

_SENTENCE_SPLIT = re.compile(r"[.!?,;:\t\n\"()\[\]{}<>|=+*/\\–—-]+")
_WORD = re.compile(r"[a-z0-9']+")


def candidate_phrases(text: str, stopwords: frozenset[str] = STOPWORDS, max_words: int = 4) -> list[tuple[str, ...]]:
    """Maximal runs of content words, split at stopwords, punctuation and numbers (in text order)."""
    phrases: list[tuple[str, ...]] = []
    for fragment in _SENTENCE_SPLIT.split((text or "").lower()):
        run: list[str] = []
        for word in _WORD.findall(fragment):
            word = word.strip("'")
            if not word or word in stopwords or word.isdigit() or len(word) < 2:
                if run:
                    phrases.append(tuple(run))
                run = []
            else:
                run.append(word)
        if run:
            phrases.append(tuple(run))
    return [p for p in phrases if len(p) <= max_words]


def rake_phrases(text: str, *, max_phrases: int | None = None, max_words: int = 4,
                 stopwords: frozenset[str] = STOPWORDS) -> list[tuple[str, float]]:
    """(phrase, score) ranked by RAKE score, high first (ties: alphabetical); each phrase once."""
    candidates = candidate_phrases(text, stopwords, max_words)
    frequency: dict[str, int] = defaultdict(int)
    degree: dict[str, int] = defaultdict(int)
    for phrase in candidates:
        for word in phrase:
            frequency[word] += 1
            degree[word] += len(phrase)
    scores: dict[str, float] = {}
    for phrase in candidates:
        scores[" ".join(phrase)] = sum(degree[w] / frequency[w] for w in phrase)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:max_phrases] if max_phrases is not None else ranked


def extract_concepts(text: str, *, max_concepts: int = 20, max_words: int = 4) -> list[str]:
    """The concept set of a text: its top ``max_concepts`` RAKE phrases (PASER §3.4)."""
    return [phrase for phrase, _ in rake_phrases(text, max_phrases=max_concepts, max_words=max_words)]
